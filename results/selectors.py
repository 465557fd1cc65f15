"""Reads of results."""

from __future__ import annotations

from django.db.models import Q

from clinic.rows import ReadView, coded_filters
from results.models import DiagnosticReport, Observation, ResultRevision

# --- Read views (clinic.rows): the FHIR API's DiagnosticReport and Observation ----------------

READ_VIEWS = {
    "diagnostic_report": ReadView(
        model=DiagnosticReport,
        fields={
            "id": "id",
            "patient": "patient_id",
            "encounter": "encounter_id",
            "order": "order_id",
            "sending_facility": "sending_facility",
            "placer_number": "placer_number",
            "filler_number": "filler_number",
            "accession": "accession",
            "code_key": "code_key",
            "coded": "coded",
            "status": "status",
            "effective_at": "effective_at",
            "issued_at": "issued_at",
            "specimen": "specimen",
            "comments": "comments",
            "version": "version",
            "created_at": "created_at",
            "updated_at": "updated_at",
        },
        # ``result_id``: a to-many path, for ``isnull`` only (FHIR ``result:missing``): ``isnull=True``
        # is a LEFT JOIN that repeats no row, and its negation (``Not``) a subquery.
        filters={**coded_filters(), "result_id": "observations__id"},
    ),
    "observation": ReadView(
        model=Observation,
        fields={
            "id": "id",
            "patient": "patient_id",
            "encounter": "encounter_id",
            "report": "report_id",
            "order": "report__order_id",
            "sending_facility": "sending_facility",
            "placer_number": "placer_number",
            "filler_number": "filler_number",
            "accession": "accession",
            "code_key": "code_key",
            "sub_id": "sub_id",
            "set_id": "set_id",
            "coded": "coded",
            "loinc": "loinc",
            "value_type": "value_type",
            "value_quantity": "value_quantity",
            "value_comparator": "value_comparator",
            "value_high": "value_high",
            "value_separator": "value_separator",
            "value_string": "value_string",
            "value_coded": "value_coded",
            "unit": "unit",
            "unit_ucum": "unit_ucum",
            "reference_range": "reference_range",
            "abnormal_flags": "abnormal_flags",
            "interpretation": "interpretation",
            "status": "status",
            "effective_at": "effective_at",
            "issued_at": "issued_at",
            "comments": "comments",
            "performer": "performer",
            "report_specimen": "report__specimen",
            "version": "version",
            "created_at": "created_at",
            "updated_at": "updated_at",
        },
        filters=coded_filters(),
    ),
    # The specimens of reports (SPM: one per report, under the report's ID).
    "specimen": ReadView(
        model=DiagnosticReport,
        scope=~Q(specimen={}),
        fields={
            "id": "id",
            "patient": "patient_id",
            "order": "order_id",
            "sending_facility": "sending_facility",
            "accession": "accession",
            "specimen": "specimen",
            "created_at": "created_at",
            "updated_at": "updated_at",
        },
        filters={"type_code": "specimen__type__code", "type_system": "specimen__type__system"},
    ),
    # Versions a later status or a correction replaced (not the stale ones, never applied).
    "result_revision": ReadView(
        model=ResultRevision,
        scope=Q(outcome=ResultRevision.Outcome.SUPERSEDED),
        fields={
            "id": "id",
            "kind": "kind",
            "object_id": "object_id",
            "version": "version",
            "status": "status",
            "content": "content",
            "recorded_at": "recorded_at",
        },
    ),
}
