"""identity's hand-written SQL (identity/sql.py) matches the models and the migrated schema."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import transaction

from identity import selectors, sql
from identity.models import Patient
from tests.clinic.factories import TenantFactory
from tests.support.identity import NHS_NUMBERS, register
from tests.support.sql import columns_of, missing_insert_columns, result_columns, statements, unknown_columns

pytestmark = pytest.mark.django_db

# Parameters to run each statement with, and the columns its reader unpacks, in order.
RUNS: dict[str, tuple[list[object], list[str]]] = {
    "PATIENT": ([1, [uuid.uuid4()]], list(sql.PATIENT_ROW)),
    "PATIENTS_BY_V2_IDENTIFIERS": (
        [1, "NHS", "9434765919"],
        ["assigning_authority", "value", "patient_id", "merged"],
    ),
    "LOCK_PATIENT_FOR_WRITE": ([1, uuid.uuid4()], ["replaced_by_id"]),
    "LOCK_DEMOGRAPHICS": ([42], ["pg_advisory_xact_lock"]),
    "NEXT_MRN": ([], ["nextval"]),
}


def runnable(name: str) -> str:
    statement: str = getattr(sql, name)
    return statement.format(pairs="(%s, %s)") if name == "PATIENTS_BY_V2_IDENTIFIERS" else statement


def test_every_statement_of_the_module_is_checked_here():
    assert set(statements(sql)) == set(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_column_a_statement_names_is_a_column_of_its_model(name):
    assert unknown_columns(runnable(name)) == []


@pytest.mark.parametrize("name", sorted(RUNS))
def test_every_statement_runs_on_the_migrated_schema_and_gives_the_row_its_reader_expects(name):
    params, row = RUNS[name]

    assert result_columns(runnable(name), params) == row


def test_the_patient_row_names_the_patients_own_columns():
    computed = {"identifiers", "replaces"}

    assert set(sql.PATIENT_ROW) - computed <= columns_of(Patient)


def test_a_patient_read_through_the_sql_equals_the_same_patient_read_through_the_orm():
    tenant = TenantFactory()
    source = register(tenant, nhs=NHS_NUMBERS[0], phone="020 7946 0000")
    target = register(tenant, mrn="T-1", family="Jones", given=("Bob", "J"), birth_date=datetime.date(1970, 1, 1))
    from identity.facade import merge_patients

    with transaction.atomic():
        merge_patients(tenant_id=tenant.pk, source_id=source.id, target_id=target.id, reason="dup", actor="t")

    for patient_id in (source.id, target.id):
        row = selectors.patients(tenant_id=tenant.pk).get(pk=patient_id)
        assert selectors.get_patient(tenant_id=tenant.pk, patient_id=patient_id) == selectors.to_record(row)


def test_the_check_catches_a_column_the_model_does_not_have():
    drifted = "SELECT p.id, p.family_name FROM identity_patient p JOIN identity_patientidentifier i ON i.patient = p.id"

    assert unknown_columns(drifted) == ["identity_patient.family_name", "identity_patientidentifier.patient"]


def test_the_revision_trigger_of_migration_0004_writes_every_column_of_a_revision():
    import importlib

    trigger = importlib.import_module("identity.migrations.0004_fhir_search").KEEP_VERSION

    assert unknown_columns(trigger) == []
    assert missing_insert_columns(trigger) == []
