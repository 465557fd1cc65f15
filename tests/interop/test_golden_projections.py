"""Every sample message in the repository (tests/**/samples, docs/examples, docs/partners) against
its golden projection: what it does to the reference clinic (``tests/support/partners.py``),
as ``manage.py partner_check --json`` prints it. The messages of one folder are delivered in
the order of their names, in one dry run (a preliminary then its final), and each is compared
with ``<name>.golden.json`` next to it. A mapping change that alters what a clinician would
see fails here, loudly, with the difference.

To accept a change, rewrite the golden files and review them in the diff:

    CLINIC_UPDATE_GOLDENS=1 make pytest PYTEST_ARGS=tests/interop/test_golden_projections.py
"""

from __future__ import annotations

import difflib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from clinic.models import OutboxEvent
from identity.models import Patient
from interop.models import InboundMessage, LabPartner
from interop.v2.check import check_messages
from results.models import DiagnosticReport, HeldResult, Observation
from tests.support.partners import reference_clinic

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
UPDATE = os.environ.get("CLINIC_UPDATE_GOLDENS") == "1"


def sample_folders() -> dict[Path, list[Path]]:
    """Every folder holding HL7 v2 sample messages, with its messages in name order."""
    found = [
        *ROOT.glob("tests/**/samples/**/*.hl7"),
        *ROOT.glob("docs/examples/**/*.hl7"),
        *ROOT.glob("docs/partners/**/*.hl7"),
    ]
    folders: dict[Path, list[Path]] = {}
    for path in sorted(found):
        folders.setdefault(path.parent, []).append(path)
    return folders


def golden_of(sample: Path) -> Path:
    return sample.with_name(f"{sample.stem}.golden.json")


def as_text(projection: Any) -> str:
    return json.dumps(projection, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("folder", sorted(sample_folders()), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_sample_charts_as_its_golden_projection_says(folder):
    samples = sample_folders()[folder]
    clinic = reference_clinic()

    projections = check_messages(
        tenant_id=clinic.tenant_id, messages=[(path.name, path.read_bytes()) for path in samples]
    )

    differences = []
    for sample, projection in zip(samples, projections, strict=True):
        golden, text = golden_of(sample), as_text(projection)
        if UPDATE:
            golden.write_text(text, encoding="utf-8")
            continue
        expected = golden.read_text(encoding="utf-8") if golden.exists() else ""
        if expected != text:
            diff = difflib.unified_diff(
                expected.splitlines(), text.splitlines(), str(golden.relative_to(ROOT)), "now", lineterm=""
            )
            differences.append("\n".join(diff))
    assert not differences, (
        "What these samples chart has changed. If that is intended, rewrite the golden files with "
        "CLINIC_UPDATE_GOLDENS=1 make pytest PYTEST_ARGS=tests/interop/test_golden_projections.py "
        "and review them in the diff:\n\n" + "\n\n".join(differences)
    )


def test_every_golden_file_belongs_to_a_sample():
    goldens = {
        *ROOT.glob("tests/**/samples/**/*.golden.json"),
        *ROOT.glob("docs/examples/**/*.golden.json"),
        *ROOT.glob("docs/partners/**/*.golden.json"),
    }
    samples = {golden_of(s) for paths in sample_folders().values() for s in paths}

    assert goldens <= samples, sorted(str(g.relative_to(ROOT)) for g in goldens - samples)
    assert len(samples) >= 20  # the samples of the repository are found


# --- partner_check ----------------------------------------------------------------------------------

HOSPITAL_LAB = ROOT / "docs" / "partners" / "hospital-lab-mllp"


def kept() -> tuple[int, ...]:
    """Everything a delivery could leave behind."""
    return (
        InboundMessage.objects.count(),
        DiagnosticReport.objects.count(),
        Observation.objects.count(),
        HeldResult.objects.count(),
        OutboxEvent.objects.count(),
        Patient.objects.count(),
    )


def test_partner_check_prints_each_ack_and_projection_and_keeps_nothing():
    reference_clinic()
    before = kept()
    out = io.StringIO()

    call_command(
        "partner_check",
        "--tenant=riverside",
        "--partner=St Elsewhere Pathology",
        *(str(p) for p in sorted(HOSPITAL_LAB.glob("*.hl7"))),
        stdout=out,
    )

    text = out.getvalue()
    assert kept() == before  # rolled back: no message, result, held row, event or patient
    assert "nothing is kept" in text
    assert text.count("file: ") == 5
    assert "Charted 1 report(s): 1 new, 2 updated" in text  # the final after the preliminary
    assert "status: corrected" in text and "Probe leicht hämolysiert" in text
    assert "Held for review (patient-unknown)" in text and "OBX-5 '13,1' is not a number" in text


def test_partner_check_can_try_a_setting_before_it_is_changed():
    clinic = reference_clinic()
    unsolicited = ROOT / "docs" / "partners" / "reference-lab-http" / "02-unsolicited-result.hl7"
    out = io.StringIO()
    LabPartner.objects.filter(tenant_id=clinic.tenant_id, facility="NRL").update(unsolicited_results="hold")

    call_command("partner_check", "--tenant=riverside", "--partner=NRL", "--json", str(unsolicited), stdout=out)
    held = json.loads(out.getvalue())[0]
    out = io.StringIO()
    call_command(
        "partner_check",
        "--tenant=riverside",
        "--partner=NRL",
        "--json",
        "--unsolicited-results=chart",
        str(unsolicited),
        stdout=out,
    )
    charted = json.loads(out.getvalue())[0]

    assert held["status"] == "held" and "order-unknown" in held["held"]
    assert charted["status"] == "processed" and charted["reports"][0]["without_order"] is True
    assert LabPartner.objects.get(tenant_id=clinic.tenant_id, facility="NRL").unsolicited_results == "hold"


def test_partner_check_names_what_it_cannot_find():
    reference_clinic()

    with pytest.raises(CommandError, match="No single lab partner 'Nobody'"):
        call_command(
            "partner_check", "--tenant=riverside", "--partner=Nobody", str(HOSPITAL_LAB / "01-preliminary.hl7")
        )
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("partner_check", "--tenant=riverside", "--partner=NRL", str(HOSPITAL_LAB / "missing.hl7"))
