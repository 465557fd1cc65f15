"""Scheduling and encounter endpoints."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.base import TenantAPIView
from clinic.api.pagination import CursorPage
from clinic.contracts import NotFound
from encounters import selectors, services
from encounters.api import serializers as s
from encounters.contracts import EncounterStatus
from encounters.models import Appointment
from identity.facade import find_patient_by_identifier

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False, description="A retry returns the first booking."
)


class PractitionerListView(TenantAPIView):
    @extend_schema(summary="The tenant's practitioners")
    def get(self, request: Request) -> Response:
        return Response(
            {
                "results": [
                    {"id": p.pk, "name": p.name, "sites": sorted(site.pk for site in p.sites.all())}
                    for p in selectors.practitioners(tenant_id=self.tenant_id)
                ]
            }
        )


class SlotPage(CursorPage):
    ordering = ("start_at", "id")  # type: ignore[assignment]  # DRF accepts a tuple
    page_size = 100


class SlotListView(TenantAPIView):
    @extend_schema(parameters=[s.SlotQuery], responses=s.SlotOut(many=True), summary="Slots (free=true: bookable ones)")
    def get(self, request: Request) -> Response:
        query = self.parse_query(s.SlotQuery)
        slots = selectors.slots(
            tenant_id=self.tenant_id,
            practitioner_id=query.get("practitioner"),
            on=query.get("date"),
            free=query.get("free", False),
        )
        paginator = SlotPage()
        page = paginator.paginate_queryset(slots, request, view=self)
        return paginator.get_paginated_response([s.slot_json(slot) for slot in page or []])


def _appointment(tenant_id: int, appointment_id: UUID) -> Appointment:
    return selectors.get_appointment(tenant_id=tenant_id, appointment_id=appointment_id)


class AppointmentListView(TenantAPIView):
    @extend_schema(
        request=s.BookIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.AppointmentOut},
        summary="Book a slot (409 with the next free slots when it is taken)",
    )
    def post(self, request: Request) -> Response:
        data = self.parse_body(s.BookIn)
        patient_id = data.get("patient")
        if patient_id is None:
            ref = data["patient_identifier"]
            found = find_patient_by_identifier(tenant_id=self.tenant_id, system=ref["system"], value=ref["value"])
            if found is None:
                raise NotFound("No patient holds this identifier.")
            patient_id = found.id
        appointment, created = services.book(
            tenant_id=self.tenant_id,
            slot_id=data["slot"],
            patient_id=patient_id,
            reason=data["reason"],
            idempotency_key=request.headers.get("Idempotency-Key"),
            actor=self.principal.actor,
        )
        body = s.appointment_json(_appointment(self.tenant_id, appointment.pk))
        return Response(body, status=201 if created else 200)


class AppointmentDetailView(TenantAPIView):
    @extend_schema(responses=s.AppointmentOut, summary="One appointment")
    def get(self, request: Request, appointment_id: UUID) -> Response:
        return Response(s.appointment_json(_appointment(self.tenant_id, appointment_id)))


class AppointmentCancelView(TenantAPIView):
    @extend_schema(request=None, responses=s.AppointmentOut, summary="Cancel an appointment")
    def post(self, request: Request, appointment_id: UUID) -> Response:
        services.cancel_appointment(tenant_id=self.tenant_id, appointment_id=appointment_id, actor=self.principal.actor)
        return Response(s.appointment_json(_appointment(self.tenant_id, appointment_id)))


class AppointmentRescheduleView(TenantAPIView):
    @extend_schema(request=s.RescheduleIn, responses=s.AppointmentOut, summary="Move an appointment to another slot")
    def post(self, request: Request, appointment_id: UUID) -> Response:
        data = self.parse_body(s.RescheduleIn)
        new = services.reschedule(
            tenant_id=self.tenant_id,
            appointment_id=appointment_id,
            slot_id=data["slot"],
            actor=self.principal.actor,
        )
        return Response(s.appointment_json(_appointment(self.tenant_id, new.pk)), status=201)


class AppointmentCheckInView(TenantAPIView):
    @extend_schema(request=None, responses={201: s.EncounterOut}, summary="Check in: opens the encounter")
    def post(self, request: Request, appointment_id: UUID) -> Response:
        encounter, created = services.check_in(
            tenant_id=self.tenant_id, appointment_id=appointment_id, actor=self.principal.actor
        )
        return Response(s.encounter_json(encounter), status=201 if created else 200)


class EncounterListView(TenantAPIView):
    @extend_schema(request=s.WalkInIn, responses={201: s.EncounterOut}, summary="Open a walk-in encounter")
    def post(self, request: Request) -> Response:
        data = self.parse_body(s.WalkInIn)
        encounter = services.open_walk_in(
            tenant_id=self.tenant_id,
            patient_id=data["patient"],
            site_id=data["site"],
            practitioner_id=data["practitioner"],
            actor=self.principal.actor,
        )
        return Response(s.encounter_json(encounter), status=201)


class EncounterDetailView(TenantAPIView):
    @extend_schema(responses=s.EncounterOut, summary="One encounter")
    def get(self, request: Request, encounter_id: UUID) -> Response:
        return Response(
            s.encounter_json(selectors.get_encounter_row(tenant_id=self.tenant_id, encounter_id=encounter_id))
        )


def _transition(to: EncounterStatus, summary: str) -> type[TenantAPIView]:
    class TransitionView(TenantAPIView):
        @extend_schema(request=None, responses=s.EncounterOut, summary=summary)
        def post(self, request: Request, encounter_id: UUID) -> Response:
            encounter = services.move_encounter(
                tenant_id=self.tenant_id, encounter_id=encounter_id, to=to, actor=self.principal.actor
            )
            return Response(s.encounter_json(encounter))

    TransitionView.__name__ = f"Encounter{to.name.title().replace('_', '')}View"
    return TransitionView


EncounterStartView = _transition(EncounterStatus.IN_PROGRESS, "Start the consultation (in progress)")
EncounterFinishView = _transition(EncounterStatus.FINISHED, "Finish the encounter")
EncounterCancelView = _transition(EncounterStatus.CANCELLED, "Cancel the encounter")


class TimelineView(TenantAPIView):
    @extend_schema(
        responses=s.TimelineEntryOut(many=True),
        summary="Everything that happened in the encounter, oldest first (live: .../stream)",
    )
    def get(self, request: Request, encounter_id: UUID) -> Response:
        selectors.get_encounter_row(tenant_id=self.tenant_id, encounter_id=encounter_id)
        entries = selectors.timeline(tenant_id=self.tenant_id, encounter_id=encounter_id)
        return Response({"results": [selectors.timeline_json(e) for e in entries]})
