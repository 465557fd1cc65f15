"""terminology's hand-written SQL: every statement the app runs outside the ORM, in one place.

Translation runs for every coded value a result carries, and the unmapped work list is counted
on the same path (ADR 0005): a cache miss costs one cheap query, a count one upsert. Column
lists here are checked against the models and the migrated schema by
``tests/terminology/test_sql.py``: change a model's columns and that test names the statement to
fix. Statements only; the code that runs them lives in ``engine`` and ``services``.
"""

from __future__ import annotations

# Every published entry that may translate (source system, code) to the target system for a
# tenant, as ``engine._Entry`` (the row's names are its fields, in order).
TRANSLATION_CANDIDATES = """
SELECT v.concept_map_id AS map_id, e.version_id, m.tenant_id, e.source_display, e.target_code, e.target_display,
       e.equivalence, e.comment, e.valid_from, e.valid_to
  FROM terminology_conceptmapentry e
  JOIN terminology_conceptmapversion v ON v.id = e.version_id
  JOIN terminology_conceptmap m ON m.id = v.concept_map_id
 WHERE e.source_system = %s AND e.source_code = %s AND e.target_system = %s
   AND v.published_at IS NOT NULL AND (m.tenant_id IS NULL OR m.tenant_id = %s)
"""

# The status of a target concept the tenant sees (its own code system before a global one).
CONCEPT_STATUS = """
SELECT c.status, c.effective_from, c.effective_to
  FROM terminology_concept c JOIN terminology_codesystem s ON s.id = c.code_system_id
 WHERE s.uri = %s AND c.code = %s AND (s.tenant_id IS NULL OR s.tenant_id = %s)
 ORDER BY s.tenant_id NULLS LAST
 LIMIT 1
"""

# Count a code no map translates: a new row, or one more sighting (reopened if it was resolved).
# Every column of the model is written (a new NOT NULL column must be added here).
RECORD_UNMAPPED = """
INSERT INTO terminology_unmappedcode
       (tenant_id, source_system, code, target_system, display, first_seen_at, last_seen_at, count,
        last_reference, resolved_at)
VALUES (%s, %s, %s, %s, %s, now(), now(), 1, %s, NULL)
ON CONFLICT (tenant_id, source_system, code, target_system) DO UPDATE
   SET count = terminology_unmappedcode.count + 1, last_seen_at = now(),
       last_reference = EXCLUDED.last_reference, resolved_at = NULL,
       display = CASE WHEN EXCLUDED.display <> '' THEN EXCLUDED.display
                      ELSE terminology_unmappedcode.display END
"""

# Resolve the open unmapped codes a newly published version covers (all tenants' for a global
# map, the owner's for a tenant's map); the rows say whom to tell.
RELEASE_UNMAPPED = """
UPDATE terminology_unmappedcode u SET resolved_at = now()
  FROM terminology_conceptmapentry e
 WHERE e.version_id = %s AND u.resolved_at IS NULL
   AND u.source_system = e.source_system AND u.code = e.source_code
   AND u.target_system = e.target_system
   AND (%s::bigint IS NULL OR u.tenant_id = %s::bigint)
RETURNING u.tenant_id, u.source_system, u.code, u.target_system
"""
