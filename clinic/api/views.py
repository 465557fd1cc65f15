"""The kernel's REST endpoints: who am I, sites, and the event log (for support and on-call)."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from clinic import selectors, services
from clinic.api.base import TenantAPIView
from clinic.api.pagination import CursorPage
from clinic.api.serializers import EventDetailOut, EventOut, EventQuery, PrincipalOut, SiteIn, SiteOut
from clinic.contracts import Scope


class MeView(TenantAPIView):
    @extend_schema(responses=PrincipalOut, summary="The caller: tenant, identity, role or scopes")
    def get(self, request: Request) -> Response:
        p = self.principal
        body = {
            "tenant": {"id": p.tenant.id, "slug": p.tenant.slug, "name": p.tenant.name},
            "kind": p.kind,
            "id": p.id,
            "name": p.name,
            "role": p.role.value if p.role else None,
            "scopes": sorted(p.scopes),
        }
        return Response(PrincipalOut(body).data)


class SiteListView(TenantAPIView):
    scopes = {"POST": Scope.TENANT_ADMIN}

    @extend_schema(responses=SiteOut(many=True), summary="The tenant's sites")
    def get(self, request: Request) -> Response:
        return Response({"results": SiteOut(selectors.sites(tenant_id=self.tenant_id), many=True).data})

    @extend_schema(request=SiteIn, responses={201: SiteOut}, summary="Create a site (tenant admins)")
    def post(self, request: Request) -> Response:
        data = self.parse_body(SiteIn)
        site = services.create_site(
            tenant_id=self.tenant_id,
            code=data["code"],
            name=data["name"],
            timezone_name=data["timezone"],
            address=data["address"],
        )
        return Response(SiteOut(site).data, status=201)


class SiteDetailView(TenantAPIView):
    @extend_schema(responses=SiteOut, summary="One site")
    def get(self, request: Request, site_id: int) -> Response:
        return Response(SiteOut(selectors.get_site(tenant_id=self.tenant_id, site_id=site_id)).data)


class EventPage(CursorPage):
    ordering = ("-recorded_at", "-id")  # type: ignore[assignment]  # DRF accepts a tuple


class EventListView(TenantAPIView):
    @extend_schema(parameters=[EventQuery], responses=EventOut(many=True), summary="The tenant's events, newest first")
    def get(self, request: Request) -> Response:
        query = self.parse_query(EventQuery)
        events = selectors.events(
            tenant_id=self.tenant_id,
            type=query.get("type"),
            patient_id=query.get("patient"),
            encounter_id=query.get("encounter"),
            undelivered=query.get("undelivered"),
        )
        paginator = EventPage()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(EventOut(page, many=True).data)


class EventDetailView(TenantAPIView):
    @extend_schema(responses=EventDetailOut, summary="One event with its deliveries")
    def get(self, request: Request, event_id: UUID) -> Response:
        event = selectors.get_event(tenant_id=self.tenant_id, event_id=event_id)
        return Response(EventDetailOut(event).data)
