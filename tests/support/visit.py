"""Helpers the visit tests share (encounters, billing, orders, the cross-context flows and the
apps above them that need a clinic with slots, a lab catalogue or an SSE reader)."""

from __future__ import annotations

import csv
import datetime
import io
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
from django.db import connection, models, transaction
from django.utils import timezone

from clinic.models import Site, Tenant
from encounters import services as encounters
from encounters.models import Practitioner, Slot
from tests.clinic.factories import SiteFactory, TenantFactory, api_token

# --- A clinic with a site, two practitioners and slots from tomorrow on ---------------------------


@dataclass
class Clinic:
    tenant: Tenant
    site: Site
    doctor: Practitioner
    nurse: Practitioner
    token: str

    def slots(self, practitioner: Practitioner | None = None) -> list[Slot]:
        return list(
            Slot.objects.filter(practitioner=practitioner or self.doctor, start_at__gt=timezone.now()).order_by(
                "start_at"
            )
        )


def make_clinic(*, days: int = 3, slug: str | None = None) -> Clinic:
    """A tenant with one site (Europe/London), "Dr Who" and "Nurse Joy" working 09:00-12:00
    every day in 15-minute slots from tomorrow for ``days`` days, and an API token."""
    tenant = TenantFactory(**({"slug": slug} if slug else {}))
    site = SiteFactory(tenant=tenant, timezone="Europe/London")
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    with transaction.atomic():
        doctor = encounters.create_practitioner(tenant_id=tenant.pk, name="Dr Who", site_ids=[site.pk])
        nurse = encounters.create_practitioner(tenant_id=tenant.pk, name="Nurse Joy", site_ids=[site.pk])
        for practitioner in (doctor, nurse):
            for weekday in range(7):
                encounters.add_template(
                    tenant_id=tenant.pk,
                    practitioner_id=practitioner.pk,
                    site_id=site.pk,
                    weekday=weekday,
                    start="09:00",
                    end="12:00",
                    slot_minutes=15,
                    valid_from=tomorrow,
                )
        encounters.generate_slots(tenant_id=tenant.pk, start=tomorrow, days=days)
    return Clinic(
        tenant=tenant, site=site, doctor=doctor, nurse=nurse, token=api_token(tenant, name=f"desk-{tenant.pk}")
    )


def new_patient_id(tenant_id: int, *, family: str = "Smith") -> UUID:
    """A new patient of the tenant (through identity's facade, as every app gets one)."""
    from identity.contracts import Demographics, HumanName
    from identity.facade import register_patient

    return register_patient(
        tenant_id=tenant_id,
        identifiers=[],  # the tenant's MRN is minted
        demographics=Demographics(name=HumanName(family=family, given=("Pat",))),
        confirm_new=True,
        actor="test",
    ).patient.id


# --- A lab catalogue of the test's own ------------------------------------------------------------


@dataclass(frozen=True)
class LabTest:
    code: str
    display: str
    loinc: str
    loinc_display: str
    fee_code: str
    fee_display: str
    price: Decimal


# Not the demo catalogue: fee codes and prices of the tests' own, so no test leans on demo data.
LAB_TESTS = (
    LabTest(
        "FBC", "Full blood count", "24317-0", "Hemogram and platelet count, automated",
        "T-HAEM", "Blood count", Decimal("10.00"),
    ),
    LabTest(
        "HBA1C", "HbA1c", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood",
        "T-A1C", "HbA1c", Decimal("7.25"),
    ),
    LabTest(
        "TSH", "Thyroid stimulating hormone", "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma",
        "T-ENDO", "Thyroid", Decimal("9.50"),
    ),
    LabTest(
        "CRP", "C-reactive protein", "1988-5", "C reactive protein [Mass/volume] in Serum or Plasma",
        "T-CHEM", "Chemistry", Decimal("4.00"),
    ),
)  # fmt: skip
LAB_MAP_VERSION = "test-1"
FEES_FROM = datetime.date(2020, 1, 1)


def lab_catalogue(tenant: Tenant, tests: tuple[LabTest, ...] = LAB_TESTS, *, currency: str = "GBP") -> None:
    """The tenant's orderable tests: its catalogue code system, the catalogue → LOINC and
    catalogue → fee code maps (version ``LAB_MAP_VERSION``), and each fee's price from
    ``FEES_FROM``; through the terminology and billing services, as an operator would."""
    from billing import services as billing
    from terminology import csvformat
    from terminology import services as terminology
    from terminology.contracts import (
        CATALOGUE_TO_FEES_MAP,
        CATALOGUE_TO_LOINC_MAP,
        LOINC,
        catalogue_system,
        fee_code_system,
    )

    catalogue, fees = catalogue_system(tenant.slug), fee_code_system(tenant.slug)

    def csv_of(rows: list[dict[str, str]]) -> bytes:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=csvformat.COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode()

    def entry(test: LabTest, target_system: str, target_code: str, target_display: str) -> dict[str, str]:
        return {
            "source_system": catalogue,
            "source_code": test.code,
            "source_display": test.display,
            "target_system": target_system,
            "target_code": target_code,
            "target_display": target_display,
            "equivalence": "equivalent",
        }

    with transaction.atomic():
        terminology.ensure_builtin_content()
        terminology.ensure_code_system_in_transaction(
            uri=catalogue, name=f"{tenant.slug} lab catalogue", tenant_id=tenant.pk
        )
        terminology.ensure_code_system_in_transaction(uri=fees, name=f"{tenant.slug} fee codes", tenant_id=tenant.pk)
        terminology.ensure_concepts(
            system_uri=catalogue, tenant_id=tenant.pk, concepts=[(t.code, t.display) for t in tests]
        )
        terminology.load_concept_map_in_transaction(
            data=csv_of([entry(t, LOINC, t.loinc, t.loinc_display) for t in tests]),
            map_name=CATALOGUE_TO_LOINC_MAP,
            version=LAB_MAP_VERSION,
            tenant_id=tenant.pk,
        )
        terminology.load_concept_map_in_transaction(
            data=csv_of([entry(t, fees, t.fee_code, t.fee_display) for t in tests]),
            map_name=CATALOGUE_TO_FEES_MAP,
            version=LAB_MAP_VERSION,
            tenant_id=tenant.pk,
        )
        for test in tests:
            billing.set_fee(
                tenant_id=tenant.pk,
                code=test.fee_code,
                display=test.fee_display,
                price=test.price,
                currency=currency,
                valid_from=FEES_FROM,
            )


def lab_test(code: str) -> LabTest:
    return next(t for t in LAB_TESTS if t.code == code)


# --- Live timelines -------------------------------------------------------------------------------


def read_events(response: httpx.Response, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The first ``count`` server-sent events of a streaming response (``id`` and parsed
    ``data``), or fewer when ``timeout`` passes."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and current:
            events.append(current)
            current = {}
            if len(events) == count:
                return events
        if time.monotonic() > deadline:
            break
    return events


# --- The migrated schema, for the raw SQL's column lists ------------------------------------------


@dataclass(frozen=True)
class SchemaColumn:
    name: str
    nullable: bool
    has_default: bool  # a DEFAULT, an identity or a serial: an INSERT may leave it out


def schema_columns(table: str) -> dict[str, SchemaColumn]:
    """The columns of ``table`` as the migrations made them (information_schema)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, is_nullable = 'YES', column_default IS NOT NULL OR is_identity = 'YES'"
            " FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = %s",
            [table],
        )
        return {name: SchemaColumn(name, nullable, has_default) for name, nullable, has_default in cursor.fetchall()}


def unknown_columns(table: str, columns: tuple[str, ...] | list[str]) -> list[str]:
    """The columns a statement names that ``table`` does not have."""
    present = schema_columns(table)
    return [c for c in columns if c not in present]


def unfilled_columns(table: str, inserted: tuple[str, ...] | list[str]) -> list[str]:
    """The columns of ``table`` an INSERT naming ``inserted`` leaves out although the schema
    gives them neither NULL nor a default: the INSERT would fail (a migration added a column
    the statement does not know)."""
    required = [c for c in schema_columns(table).values() if not c.nullable and not c.has_default]
    return sorted(c.name for c in required if c.name not in inserted)


def model_columns(model: type[models.Model]) -> list[str]:
    return sorted(f.column for f in model._meta.concrete_fields)
