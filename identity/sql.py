"""identity's hand-written SQL: every statement the app runs outside the ORM, in one place.

These are the hot paths (ADR 0005): reading one patient for a registration or an integration, a
lab's identifiers, the share lock every clinical write takes. One round trip, no ORM query
compilation. Column lists here are checked against the models and the migrated schema by
``tests/identity/test_sql.py``: change a model's columns and that test names the statement to
fix. Statements only; the code that runs them lives in ``selectors`` and ``services``.
"""

from __future__ import annotations

# One patient or a few, as ``selectors.get_patients`` reads them; the row is ``PATIENT_ROW``.
# Identifiers come as [uri, value, use, assigning authority] sorted like ``to_record`` sorts
# them; ``replaces`` are the records merged into this one.
PATIENT = """
SELECT p.id, p.tenant_id, p.active, p.family, p.given, p.other_names::json, p.birth_date, p.gender,
       p.telecom::json, p.address::json, p.replaced_by_id, p.version, p.created_at, p.updated_at,
       COALESCE((SELECT json_agg(json_build_array(s.uri, i.value, i.use, s.assigning_authority)
                                 ORDER BY s.uri, i.value)
                   FROM identity_patientidentifier i
                   JOIN identity_identifiersystem s ON s.id = i.system_id
                  WHERE i.patient_id = p.id), '[]'::json) AS identifiers,
       ARRAY(SELECT r.id FROM identity_patient r WHERE r.replaced_by_id = p.id ORDER BY r.id) AS replaces
  FROM identity_patient p
 WHERE p.tenant_id = %s AND p.id = ANY(%s)
"""
PATIENT_ROW = (
    "id",
    "tenant_id",
    "active",
    "family",
    "given",
    "other_names",
    "birth_date",
    "gender",
    "telecom",
    "address",
    "replaced_by_id",
    "version",
    "created_at",
    "updated_at",
    "identifiers",
    "replaces",
)

# The holders of HL7 v2 identifiers (CX-4 assigning authority, CX-1 value); ``{pairs}`` is
# "(%s, %s), ..." once per pair. A merged holder answers with the record it was merged into.
PATIENTS_BY_V2_IDENTIFIERS = """
SELECT s.assigning_authority, i.value, COALESCE(p.replaced_by_id, p.id) AS patient_id,
       p.replaced_by_id IS NOT NULL AS merged
  FROM identity_patientidentifier i
  JOIN identity_identifiersystem s ON s.id = i.system_id
  JOIN identity_patient p ON p.id = i.patient_id
 WHERE i.tenant_id = %s AND (s.assigning_authority, i.value) IN ({pairs})
"""

# ``services.lock_patient_for_write``: a merge takes the same row FOR UPDATE.
LOCK_PATIENT_FOR_WRITE = """
SELECT p.replaced_by_id FROM identity_patient p WHERE p.tenant_id = %s AND p.id = %s FOR SHARE
"""

# Registrations without identifiers of the same person take turns (a transaction-scoped lock).
LOCK_DEMOGRAPHICS = "SELECT pg_advisory_xact_lock(%s)"

# The next minted MRN number (the sequence of migration 0002).
NEXT_MRN = "SELECT nextval('identity_mrn_seq')"
