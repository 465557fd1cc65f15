"""The patient API: register (idempotently), read, search, match, merge, unmerge."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.base import TenantAPIView
from clinic.api.pagination import CursorPage
from identity import facade, selectors, services
from identity.api import serializers as s
from identity.contracts import MergeOutcome, MovedRow, UnmergeOutcome
from identity.serialise import candidate_json, patient_json

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Makes a registration without identifiers safe to retry: a retry returns the first outcome.",
)


class PatientPage(CursorPage):
    ordering = ("created_at", "id")  # type: ignore[assignment]  # DRF accepts a tuple


class PatientListView(TenantAPIView):
    @extend_schema(
        parameters=[s.PatientQuery],
        responses=s.PatientOut(many=True),
        summary="Search patients by identifier (system|value), family name and/or birth date",
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(s.PatientQuery)
        identifier = None
        if "identifier" in query:
            system, _, value = query["identifier"].partition("|")
            identifier = (system, value)
        patients = selectors.patients(
            tenant_id=self.tenant_id,
            identifier=identifier,
            family=query.get("family"),
            birth_date=query.get("birth_date"),
        )
        paginator = PatientPage()
        page = paginator.paginate_queryset(patients, request, view=self)
        return paginator.get_paginated_response([patient_json(selectors.to_record(p)) for p in page or []])

    @extend_schema(
        request=s.RegisterIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={201: s.PatientOut, 200: s.PatientOut},
        summary="Register a patient, or get the patient these identifiers belong to",
    )
    def post(self, request: Request) -> Response:
        data = self.parse_body(s.RegisterIn)
        registration = services.register_patient(
            tenant_id=self.tenant_id,
            identifiers=s.to_identifiers(data),
            demographics=s.to_demographics(data),
            confirm_new=data["confirm_new"],
            idempotency_key=request.headers.get("Idempotency-Key"),
            actor=self.principal.actor,
        )
        response = Response(patient_json(registration.patient), status=201 if registration.created else 200)
        response["Location"] = f"/api/patients/{registration.patient.id}"
        return response


class PatientDetailView(TenantAPIView):
    @extend_schema(responses=s.PatientOut, summary="One patient (a merged one shows its replaced-by link)")
    def get(self, request: Request, patient_id: UUID) -> Response:
        return Response(patient_json(facade.get_patient(tenant_id=self.tenant_id, patient_id=patient_id)))


class PatientMatchView(TenantAPIView):
    scopes = {"POST": "api:read"}  # a match reads; it writes nothing

    @extend_schema(request=s.MatchIn, responses=s.MatchOut, summary="Find patients that may be this person")
    def post(self, request: Request) -> Response:
        data = self.parse_body(s.MatchIn)
        candidates = facade.match_patients(
            tenant_id=self.tenant_id, demographics=s.to_demographics(data), identifiers=s.to_identifiers(data)
        )
        return Response({"candidates": [candidate_json(c) for c in candidates]})


def _moved(rows: tuple[MovedRow, ...]) -> list[dict[str, Any]]:
    return [{"model": r.model, "id": r.id, "field": r.field} for r in rows]


def merge_json(outcome: MergeOutcome) -> dict[str, Any]:
    return {
        "merge_id": str(outcome.merge_id),
        "source": patient_json(outcome.source),
        "target": patient_json(outcome.target),
        "reason": outcome.reason,
        "merged_at": outcome.merged_at.isoformat(),
        "moved": _moved(outcome.moved),
        "already_merged": outcome.already_merged,
    }


def unmerge_json(outcome: UnmergeOutcome) -> dict[str, Any]:
    return {
        "merge_id": str(outcome.merge_id),
        "source": patient_json(outcome.source),
        "target": patient_json(outcome.target),
        "returned": _moved(outcome.returned),
        "review": _moved(outcome.review),
        "not_returned": _moved(outcome.not_returned),
    }


class PatientMergeView(TenantAPIView):
    @extend_schema(request=s.MergeIn, responses=s.MergeOut, summary="Merge the source patient into this one")
    def post(self, request: Request, patient_id: UUID) -> Response:
        data = self.parse_body(s.MergeIn)
        outcome = services.merge_patients(
            tenant_id=self.tenant_id,
            source_id=data["source"],
            target_id=patient_id,
            reason=data["reason"],
            actor=self.principal.actor,
        )
        return Response(merge_json(outcome))


class PatientUnmergeView(TenantAPIView):
    @extend_schema(request=s.UnmergeIn, responses=s.UnmergeOut, summary="Undo the merge of this (source) patient")
    def post(self, request: Request, patient_id: UUID) -> Response:
        data = self.parse_body(s.UnmergeIn)
        outcome = services.unmerge_patient(
            tenant_id=self.tenant_id, source_id=patient_id, reason=data["reason"], actor=self.principal.actor
        )
        return Response(unmerge_json(outcome))


class IdentifierSystemListView(TenantAPIView):
    @extend_schema(responses=s.IdentifierSystemOut(many=True), summary="Identifier systems this tenant accepts")
    def get(self, request: Request) -> Response:
        systems = services.identifier_systems(tenant_id=self.tenant_id)
        return Response({"results": s.IdentifierSystemOut(systems, many=True).data})
