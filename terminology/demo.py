"""The demo tenant's lab catalogue: a dozen common tests, mapped to LOINC and to fee codes.

Terminology's step of ``seed_demo`` (see ``clinic.demo``). Codes that appear in the sample
messages (LAB-ORU-1, the NIST CBC, the GHH glucose) are used where there is one.
"""

from __future__ import annotations

from django.db import transaction

from clinic.facade import demo_step, get_tenant
from terminology import csvformat, services
from terminology.contracts import (
    CATALOGUE_TO_FEES_MAP,
    CATALOGUE_TO_LOINC_MAP,
    LOINC,
    catalogue_system,
    fee_code_system,
)

# catalogue code, display, LOINC code, LOINC display, fee code, fee display
CATALOGUE = [
    (
        "FBC",
        "Full blood count",
        "24317-0",
        "Hemogram and platelet count, automated",
        "LAB-HAEM-01",
        "Haematology panel",
    ),
    (
        "FBCD",
        "Full blood count with differential",
        "57021-8",
        "CBC W Auto Differential panel in Blood",
        "LAB-HAEM-02",
        "Haematology panel with differential",
    ),
    (
        "DIFF",
        "White cell differential",
        "26464-8",
        "Differential WBC Count, buffy coat",
        "LAB-HAEM-03",
        "Differential count",
    ),
    (
        "GLU",
        "Glucose, fasting",
        "1554-5",
        "Glucose [Mass/volume] in Serum or Plasma --12 hours fasting",
        "LAB-CHEM-01",
        "Single analyte chemistry",
    ),
    (
        "UE",
        "Urea and electrolytes",
        "24362-6",
        "Renal function 2000 panel - Serum or Plasma",
        "LAB-CHEM-02",
        "Renal panel",
    ),
    (
        "EGFR",
        "eGFR",
        "62238-1",
        "GFR/BSA.predicted by Creatinine-based formula (CKD-EPI)",
        "LAB-CHEM-01",
        "Single analyte chemistry",
    ),
    ("HBA1C", "HbA1c", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "LAB-CHEM-03", "HbA1c"),
    (
        "LIPID",
        "Lipid profile",
        "57698-3",
        "Lipid panel with direct LDL - Serum or Plasma",
        "LAB-CHEM-04",
        "Lipid panel",
    ),
    (
        "LFT",
        "Liver function tests",
        "24325-3",
        "Hepatic function 2000 panel - Serum or Plasma",
        "LAB-CHEM-05",
        "Liver panel",
    ),
    (
        "CRP",
        "C-reactive protein",
        "1988-5",
        "C reactive protein [Mass/volume] in Serum or Plasma",
        "LAB-CHEM-01",
        "Single analyte chemistry",
    ),
    (
        "TSH",
        "Thyroid stimulating hormone",
        "3016-3",
        "Thyrotropin [Units/volume] in Serum or Plasma",
        "LAB-ENDO-01",
        "Thyroid function",
    ),
    (
        "FERR",
        "Ferritin",
        "2276-4",
        "Ferritin [Mass/volume] in Serum or Plasma",
        "LAB-CHEM-01",
        "Single analyte chemistry",
    ),
]

VERSION = "demo-1"


def _csv(rows: list[tuple[str, ...]]) -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csvformat.COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode()


def seed(*, tenant_id: int) -> list[str]:
    """The use case of ``seed_in_transaction`` (the ``seed_terminology`` command's), in a
    transaction of its own."""
    with transaction.atomic(durable=True):
        return seed_in_transaction(tenant_id=tenant_id)


@demo_step("terminology.lab_catalogue", order=20)
def seed_in_transaction(*, tenant_id: int) -> list[str]:
    """Create the catalogue, its LOINC map and its fee-code map (idempotent), in the caller's
    transaction; returns what it loaded, for a command to print."""
    slug = get_tenant(tenant_id=tenant_id).slug
    catalogue, fees = catalogue_system(slug), fee_code_system(slug)
    with transaction.atomic(savepoint=False):
        services.ensure_builtin_content()  # LOINC must exist to map to it
        services.ensure_code_system_in_transaction(uri=catalogue, name=f"{slug} lab catalogue", tenant_id=tenant_id)
        services.ensure_code_system_in_transaction(uri=fees, name=f"{slug} fee codes", tenant_id=tenant_id)
        services.ensure_concepts(system_uri=catalogue, tenant_id=tenant_id, concepts=[(c[0], c[1]) for c in CATALOGUE])
        to_loinc = _csv(
            [
                (catalogue, code, display, LOINC, loinc, loinc_display, "equivalent", "", "", "")
                for code, display, loinc, loinc_display, _f, _fd in CATALOGUE
            ]
        )
        to_fees = _csv(
            [
                (catalogue, code, display, fees, fee, fee_display, "equivalent", "", "", "")
                for code, display, _l, _ld, fee, fee_display in CATALOGUE
            ]
        )
        loaded = [
            services.load_concept_map_in_transaction(
                data=to_loinc,
                map_name=CATALOGUE_TO_LOINC_MAP,
                version=VERSION,
                tenant_id=tenant_id,
                title="Lab catalogue → LOINC",
            ),
            services.load_concept_map_in_transaction(
                data=to_fees,
                map_name=CATALOGUE_TO_FEES_MAP,
                version=VERSION,
                tenant_id=tenant_id,
                title="Lab catalogue → fee codes",
            ),
        ]
    return [f"{r.map_name} {r.version}: {r.entries} entries{'' if r.created else ' (already loaded)'}" for r in loaded]
