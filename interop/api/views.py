"""The HTTP edge of interop: HL7 v2 over HTTP, and the support lookup of a result's journey."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.base import TenantAPIView
from clinic.api.exceptions import QueryParameterInvalid
from clinic.contracts import Scope
from interop import selectors
from interop.models import InboundMessage
from interop.v2 import intake

HL7_MEDIA_TYPES = {"x-application/hl7-v2+er7", "application/hl7-v2", "text/plain"}


class Hl7View(TenantAPIView):
    """``POST /hl7/v2``: one HL7 v2 message in, its ACK out (the same ACK MLLP would send); a
    batch in, a batch of ACKs out."""

    scopes = {"POST": Scope.HL7_SUBMIT}
    parser_classes: list[Any] = []  # the body is read raw: it is stored byte for byte

    @extend_schema(
        summary=(
            "Submit one HL7 v2 message (ORU^R01, ADT^A01/A04/A08/A40) or a batch of them (FHS/BHS); "
            "the response body is its ACK (a batch of ACKs for a batch)"
        ),
        request={"x-application/hl7-v2+er7": {"type": "string"}},
        responses={200: {"type": "string"}},
    )
    def post(self, request: Request) -> HttpResponse:
        media = (request.content_type or "").split(";")[0].strip().lower()
        if media not in HL7_MEDIA_TYPES:
            from rest_framework.exceptions import UnsupportedMediaType

            raise UnsupportedMediaType(
                media or "(none)",
                detail=f"Send the message as x-application/hl7-v2+er7 or text/plain, not {media or 'no content type'}.",
            )
        raw = request.stream.read() if request.stream is not None else b""
        receipt = intake.receive(
            raw=raw,
            transport=InboundMessage.Transport.HTTP,
            peer=self.principal.actor,
            tenant_id=self.tenant_id,
        )
        response = HttpResponse(
            receipt.ack_bytes(), content_type=f"x-application/hl7-v2+er7; charset={receipt.charset.iana.lower()}"
        )
        response["X-HL7-Ack-Code"] = receipt.code
        response["X-HL7-Message-Id"] = ",".join(str(i) for i in receipt.message_ids) or "0"
        return response


class TraceView(TenantAPIView):
    """``GET /api/results/trace?accession=...`` (or ``control_id=``): every message that carried
    it, its ACK, the events it published, and when it was received, charted, acknowledged and
    pushed to the encounter."""

    @extend_schema(
        summary="Trace a result: its messages, ACKs, events and the received/charted/acknowledged/pushed times",
        parameters=[
            OpenApiParameter("accession", str, description="The lab's accession (filler order) number"),
            OpenApiParameter("control_id", str, description="MSH-10 of a message"),
            OpenApiParameter("placer_number", str, description="Our order's placer number"),
        ],
    )
    def get(self, request: Request) -> Response:
        params = {k: request.query_params.get(k, "").strip() for k in ("accession", "control_id", "placer_number")}
        given = {k: v for k, v in params.items() if v}
        if len(given) != 1:
            raise QueryParameterInvalid({"accession": ["give exactly one of accession, control_id or placer_number"]})
        ((key, value),) = given.items()
        if len(value) > 200:
            raise QueryParameterInvalid({key: ["is longer than 200 characters"]})
        messages = selectors.trace(tenant_id=self.tenant_id, **{key: value})
        return Response({key: value, "count": len(messages), "messages": messages})
