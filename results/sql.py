"""The SQL of results' hot path and the column lists it depends on, in one place (ADR 0005).

Reports, observations and held results are inserted with ``clinic.db.insert_new``: one
``INSERT ... SELECT ... FROM unnest(...) ON CONFLICT ON CONSTRAINT ... DO NOTHING`` per table
and message, its columns derived from the model. What a business key finds charted before is
compared column by column: the ``*_CONTENT_COLUMNS`` below are what the lab said (a later
version overwrites them, a revision keeps them), the ``*_FIXED_COLUMNS`` the row's identity,
business key and bookkeeping, which a later version never changes. Every concrete column of
the model is in exactly one of the two lists; ``tests/results/test_sql.py`` fails when a
migration adds, drops or renames one without this module saying which it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from clinic.db import insert_new
from results.models import DiagnosticReport, HeldResult, Observation

# The unique constraints (business keys) the inserts skip conflicting rows on.
REPORT_KEY = "report_business_key"
OBSERVATION_KEY = "observation_business_key"
HELD_KEY = "held_result_once_per_content"

REPORT_CONTENT_COLUMNS = (
    "encounter_id",
    "order_id",
    "coded",
    "status",
    "v2_status",
    "effective_at",
    "issued_at",
    "specimen",
    "comments",
    "content_sha256",
    "source",
    "sent_at",
)
REPORT_FIXED_COLUMNS = (
    "tenant_id",
    "id",
    "patient_id",  # a merge re-points it; a new version never does
    "sending_facility",
    "placer_number",
    "filler_number",
    "accession",
    "code_key",
    "version",
    "created_at",
    "updated_at",
)

OBSERVATION_CONTENT_COLUMNS = (
    "report_id",  # kept in a revision; an update leaves the observation on its report
    "encounter_id",
    "set_id",
    "coded",
    "loinc",
    "value_type",
    "value_quantity",
    "value_comparator",
    "value_high",
    "value_separator",
    "value_string",
    "value_coded",
    "unit",
    "unit_ucum",
    "reference_range",
    "abnormal_flags",
    "interpretation",
    "status",
    "v2_status",
    "effective_at",
    "issued_at",
    "comments",
    "performer",
    "content_sha256",
    "source",
    "sent_at",
)
OBSERVATION_FIXED_COLUMNS = (
    "tenant_id",
    "id",
    "patient_id",
    "sending_facility",
    "placer_number",
    "filler_number",
    "accession",
    "code_key",
    "sub_id",
    "version",
    "created_at",
    "updated_at",
)


def insert_new_reports(rows: Sequence[Any]) -> set[UUID]:
    """Insert the reports whose business key is not charted yet; the IDs inserted."""
    return insert_new(DiagnosticReport, rows, constraint=REPORT_KEY)


def insert_new_observations(rows: Sequence[Any]) -> set[UUID]:
    """Insert the observations whose business key is not charted yet; the IDs inserted."""
    return insert_new(Observation, rows, constraint=OBSERVATION_KEY)


def insert_new_held(rows: Sequence[Any]) -> set[UUID]:
    """Insert the held results whose content is not held yet; the IDs inserted."""
    return insert_new(HeldResult, rows, constraint=HELD_KEY)
