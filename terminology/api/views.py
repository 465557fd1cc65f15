"""The terminology API: translate as of a date, and the unmapped work list."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api.base import TenantAPIView
from clinic.api.pagination import CursorPage
from terminology import selectors
from terminology.api import serializers as s
from terminology.contracts import Translation
from terminology.errors import Unmapped


def translation_json(t: Translation, on: Any) -> dict[str, Any]:
    return {
        "date": on.isoformat(),
        "source": {"system": t.source.system, "code": t.source.code, "display": t.source.display},
        "target": {"system": t.target.system, "code": t.target.code, "display": t.target.display},
        "equivalence": t.equivalence,
        "comment": t.comment,
        "valid_from": t.valid_from.isoformat(),
        "valid_to": t.valid_to.isoformat() if t.valid_to else None,
        "target_status": t.target_status,
        "map": {
            "name": t.map_version.map_name,
            "url": t.map_version.map_url,
            "version": t.map_version.version,
            "published_at": t.map_version.published_at.isoformat() if t.map_version.published_at else None,
            "scope": "global" if t.map_version.tenant_id is None else "tenant",
        },
    }


class TranslateView(TenantAPIView):
    @extend_schema(
        parameters=[s.TranslateQuery],
        responses={200: s.TranslationOut},
        summary="Translate system|code to the target system as of a date (404 'unmapped' otherwise)",
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(s.TranslateQuery)
        on = query.get("date") or timezone.localdate()
        found = selectors.translate(
            tenant_id=self.tenant_id,
            system=query["system"],
            code=query["code"],
            target_system=query["target"],
            as_of=on,
        )
        if found is None:
            source = f"{query['system']}|{query['code']}"
            raise Unmapped(f"Unmapped: no map translates {source} to {query['target']} on {on.isoformat()}.")
        return Response(translation_json(found, on))


class UnmappedPage(CursorPage):
    ordering = ("-last_seen_at", "-id")  # type: ignore[assignment]  # DRF accepts a tuple


class UnmappedListView(TenantAPIView):
    @extend_schema(
        parameters=[s.UnmappedQuery],
        responses=s.UnmappedOut(many=True),
        summary="Codes received that no map translates",
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(s.UnmappedQuery)
        rows = selectors.unmapped(tenant_id=self.tenant_id, include_resolved=query.get("include_resolved", False))
        paginator = UnmappedPage()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(
            s.UnmappedOut([selectors.unmapped_record(r) for r in page or []], many=True).data
        )
