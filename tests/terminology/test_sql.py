"""terminology's hand-written SQL (terminology/sql.py) matches the models and the migrated schema."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from terminology import engine, sql
from terminology.contracts import LOINC
from terminology.models import UnmappedCode
from tests.clinic.factories import TenantFactory
from tests.support.sql import missing_insert_columns, result_columns, statements, unknown_columns
from tests.support.terminology import LAB, entry, lab_system, load

pytestmark = pytest.mark.django_db


def runs(tenant_id: int) -> dict[str, tuple[list[object], list[str]]]:
    """Parameters to run each statement with, and the columns its reader unpacks, in order."""
    return {
        "TRANSLATION_CANDIDATES": (
            [LAB, "GLU", LOINC, tenant_id],
            [field.name for field in dataclasses.fields(engine._Entry)],
        ),
        "CONCEPT_STATUS": ([LOINC, "2345-7", tenant_id], ["status", "effective_from", "effective_to"]),
        "RECORD_UNMAPPED": ([tenant_id, LAB, "XYZ", LOINC, "", ""], []),
        "RELEASE_UNMAPPED": ([0, None, None], ["tenant_id", "source_system", "code", "target_system"]),
    }


def test_every_statement_of_the_module_is_checked_here():
    assert set(statements(sql)) == set(runs(0))


@pytest.mark.parametrize("name", sorted(runs(0)))
def test_every_column_a_statement_names_is_a_column_of_its_model(name):
    assert unknown_columns(getattr(sql, name)) == []


@pytest.mark.parametrize("name", sorted(runs(0)))
def test_every_statement_runs_on_the_migrated_schema_and_gives_the_row_its_reader_expects(name):
    params, row = runs(TenantFactory().pk)[name]

    assert result_columns(getattr(sql, name), params) == row


def test_counting_an_unmapped_code_writes_every_column_of_the_work_list():
    assert missing_insert_columns(sql.RECORD_UNMAPPED) == []


def test_a_candidate_read_through_the_sql_carries_the_entry_it_was_read_from():
    lab_system()
    tenant = TenantFactory()
    version = load(
        {**entry("GLU", "2345-7", valid_from="2020-01-01", valid_to="2030-01-01"), "target_display": "Glucose"},
        version="v1",
        tenant_id=tenant.pk,
    )
    engine.invalidate()

    [candidate] = engine._candidates(tenant.pk, LAB, "GLU", LOINC)

    stored = version.entries.get()
    assert candidate == engine._Entry(
        map_id=version.concept_map_id,
        version_id=version.pk,
        tenant_id=tenant.pk,
        source_display=stored.source_display,
        target_code="2345-7",
        target_display="Glucose",
        equivalence=stored.equivalence,
        comment=stored.comment,
        valid_from=datetime.date(2020, 1, 1),
        valid_to=datetime.date(2030, 1, 1),
    )


def test_the_check_catches_an_insert_that_leaves_out_a_column():
    drifted = (
        "INSERT INTO terminology_unmappedcode (tenant_id, source_system, code, target_system) VALUES (1, '', '', '')"
    )

    assert missing_insert_columns(drifted) == sorted(
        {f.column for f in UnmappedCode._meta.concrete_fields}
        - {"id", "tenant_id", "source_system", "code", "target_system"}
    )
