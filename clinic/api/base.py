"""Base view of every REST API view: tenant-bound, scope-checked, problem JSON on error."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework.request import Request
from rest_framework.views import APIView

from clinic.api.exceptions import QueryParameterInvalid
from clinic.api.permissions import default_scope
from clinic.contracts import Principal


class TenantAPIView(APIView):
    """One operation of the REST API. The tenant is the caller's (``self.tenant_id``); a view
    that needs more than the method's default scope lists it in ``scopes`` by method."""

    scopes: ClassVar[dict[str, str]] = {}

    def required_scope(self, request: Request) -> str:
        return self.scopes.get(request.method or "GET") or default_scope(request)

    @property
    def principal(self) -> Principal:
        return self.request.principal  # type: ignore[attr-defined,no-any-return]

    @property
    def tenant_id(self) -> int:
        return self.principal.tenant.id

    def parse_body(self, serializer_class: Any) -> dict[str, Any]:
        """The validated request body. Raises ValidationError (422) naming each bad field."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def parse_query(self, serializer_class: Any) -> dict[str, Any]:
        """The validated query parameters. Raises QueryParameterInvalid (400)."""
        serializer = serializer_class(data=self.request.query_params.dict())
        if not serializer.is_valid():
            raise QueryParameterInvalid(serializer.errors)
        return {k: v for k, v in serializer.validated_data.items() if v is not None}
