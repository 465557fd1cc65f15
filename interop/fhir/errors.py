"""OperationOutcome, and the errors the API answers with (http://hl7.org/fhir/R4/operationoutcome.html)."""

from __future__ import annotations

from typing import Any


def outcome(
    *issues: tuple[str, str, str] | tuple[str, str, str, list[str]], resource_id: str | None = None
) -> dict[str, Any]:
    """An OperationOutcome of (severity, code, text[, expression]) issues. ``code`` is from
    http://hl7.org/fhir/R4/valueset-issue-type.html."""
    body: dict[str, Any] = {"resourceType": "OperationOutcome"}
    if resource_id:
        body["id"] = resource_id
    body["issue"] = []
    for issue in issues:
        entry: dict[str, Any] = {"severity": issue[0], "code": issue[1], "diagnostics": issue[2]}
        entry["details"] = {"text": issue[2]}
        if len(issue) > 3 and issue[3]:
            entry["expression"] = issue[3]
        body["issue"].append(entry)
    return body


class FhirError(Exception):
    """Answered as an OperationOutcome with this HTTP status."""

    status = 400
    code = "invalid"

    def __init__(self, text: str, *, expression: list[str] | None = None, headers: dict[str, str] | None = None):
        super().__init__(text)
        self.text = text
        self.expression = expression or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return outcome(("error", self.code, self.text, self.expression))


class BadRequest(FhirError):
    status = 400
    code = "invalid"


class NotSupported(FhirError):
    status = 400
    code = "not-supported"


class Unauthorized(FhirError):
    status = 401
    code = "login"


class Forbidden(FhirError):
    status = 403
    code = "forbidden"


class ResourceNotFound(FhirError):
    status = 404
    code = "not-found"


class MethodNotAllowed(FhirError):
    status = 405
    code = "not-supported"


class NotAcceptable(FhirError):
    status = 406
    code = "not-supported"


class MergedPatient(FhirError):
    """An operation on a patient merged into another: it is answered for the survivor only."""

    status = 422
    code = "processing"
