"""python manage.py load_concept_map: a documented CSV format, all or nothing, idempotent."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from terminology.models import ConceptMap, ConceptMapEntry, ConceptMapVersion
from tests.clinic.factories import TenantFactory
from tests.support.terminology import HEADER, LAB, csv_bytes, entry, lab_system

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    lab_system()
    return TenantFactory(slug="riverside")


def ours(manager, name_field: str = "name"):
    """Leave out the built-in v2 maps every database has."""
    return manager.exclude(**{f"{name_field}__startswith": "v2-"})


def write(tmp_path: Path, data: bytes, name: str = "lab_to_loinc.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("load_concept_map", *args, stdout=out)
    return out.getvalue()


def test_load_a_tenant_map_and_load_it_again_as_a_no_op(tenant, tmp_path):
    path = write(tmp_path, csv_bytes(entry("GLU", "2345-7"), entry("HB", "718-7", valid_from="2020-01-01")))

    first = run(path, "--tenant", "riverside", "--version", "2026-11")
    again = run(path, "--tenant", "riverside", "--version", "2026-11")

    assert "lab-to-loinc version 2026-11: 2 entries, published." in first
    assert "already loaded" in again
    version = ConceptMapVersion.objects.get(concept_map__name="lab-to-loinc")
    assert version.concept_map.tenant_id == tenant.pk
    assert version.published_at is not None
    assert ours(ConceptMapEntry.objects, "version__concept_map__name").count() == 2


def test_global_map_and_draft(tenant, tmp_path):
    path = write(tmp_path, csv_bytes(entry("GLU", "2345-7")))

    run(path, "--global", "--version", "1", "--name", "shared", "--draft")

    version = ConceptMapVersion.objects.get(concept_map__name="shared")
    assert version.concept_map.tenant_id is None
    assert version.published_at is None


def test_same_version_with_other_content_is_refused(tenant, tmp_path):
    run(write(tmp_path, csv_bytes(entry("GLU", "2345-7"))), "--tenant", "riverside", "--version", "1")

    with pytest.raises(CommandError, match="already exists with different content"):
        run(
            write(tmp_path, csv_bytes(entry("GLU", "9999-9")), "other.csv"),
            "--tenant",
            "riverside",
            "--version",
            "1",
            "--name",
            "lab-to-loinc",
        )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (b"GLU,2345-7\n", "line 3: has 2 fields, the header has 10"),
        (
            csv_bytes(entry("GLU", "2345-7"), entry("GLU", "1111-1", valid_from="2020-01-01")).split(b"\n", 1)[1],
            "line 4: validity overlaps line 3",
        ),
        (
            csv_bytes(entry("GLU", "2345-7", source="urn:nobody")).split(b"\n", 1)[1],
            "line 3: unknown code system 'urn:nobody'",
        ),
        (
            csv_bytes(entry("GLU", "2345-7", valid_from="2025-06-01", valid_to="2025-01-01")).split(b"\n", 1)[1],
            "valid_to 2025-01-01 is not after valid_from 2025-06-01",
        ),
        (
            csv_bytes(entry("GLU", "2345-7", valid_from="01/06/2025")).split(b"\n", 1)[1],
            "valid_from '01/06/2025' is not a date",
        ),
        (
            csv_bytes({"source_system": LAB, "source_code": "GLU", "target_system": "http://loinc.org"}).split(
                b"\n", 1
            )[1],
            "target_code is required",
        ),
        (
            csv_bytes({**entry("GLU", "1"), "equivalence": "sameish"}).split(b"\n", 1)[1],
            "unknown equivalence 'sameish'",
        ),
    ],
)
def test_a_bad_row_is_reported_with_its_line_and_nothing_is_loaded(tenant, tmp_path, rows, message):
    # A good first row, then the bad one(s): nothing of the file may be loaded.
    good_first_row = csv_bytes(entry("FINE", "1-1")).split(b"\n", 1)[1]
    data = b",".join(h.encode() for h in HEADER) + b"\n" + good_first_row + rows

    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(write(tmp_path, data), "--tenant", "riverside", "--version", "1")

    assert not ours(ConceptMap.objects).exists()
    assert not ours(ConceptMapEntry.objects, "version__concept_map__name").exists()


def test_every_problem_of_a_file_is_listed(tenant, tmp_path):
    data = csv_bytes(entry("A", "1", source="urn:x"), entry("B", "2", valid_from="bad"), entry("C", "3"))

    with pytest.raises(CommandError) as caught:
        run(write(tmp_path, data), "--tenant", "riverside", "--version", "1")

    assert "line 2: unknown code system 'urn:x'" in str(caught.value)
    assert "line 3: valid_from 'bad' is not a date" in str(caught.value)
    assert not ours(ConceptMapEntry.objects, "version__concept_map__name").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"source_system,source_code\n", "missing columns: source_display"),
        (b",".join(h.encode() for h in HEADER) + b",colour\n", "unknown columns: colour"),
        (b",".join(h.encode() for h in HEADER) + b",comment\n", "repeated columns: comment"),
        (b"\xff\xfe\x00", "is not UTF-8"),
    ],
)
def test_a_bad_file_is_refused(tenant, tmp_path, data, message):
    with pytest.raises(CommandError, match=message):
        run(write(tmp_path, data), "--tenant", "riverside", "--version", "1")


def test_unknown_tenant_and_missing_file_are_clear_errors(tenant, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(str(tmp_path / "missing.csv"), "--global", "--version", "1")
    with pytest.raises(Exception, match="No such tenant"):
        run(write(tmp_path, csv_bytes(entry("GLU", "1"))), "--tenant", "nowhere", "--version", "1")


def test_a_tenants_local_code_system_is_known_only_to_it(tmp_path):
    from terminology import services

    mine = TenantFactory(slug="mine")
    TenantFactory(slug="other")
    services.ensure_code_system(uri="urn:mine:codes", name="Mine", tenant_id=mine.pk)
    data = csv_bytes(entry("X", "1", source="urn:mine:codes"))

    run(write(tmp_path, data), "--tenant", "mine", "--version", "1")
    with pytest.raises(CommandError, match="unknown code system 'urn:mine:codes'"):
        run(write(tmp_path, data, "b.csv"), "--tenant", "other", "--version", "1")
