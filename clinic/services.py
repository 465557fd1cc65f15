"""Kernel writes: tenancy, API clients and idempotency keys (the event outbox is
``clinic.outbox``).

Every function is keyword-only and typed; the exceptions it raises are in ``clinic.errors``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from clinic import demo, policy
from clinic.contracts import (
    DEFAULT_CLIENT_SCOPES,
    IDEMPOTENCY_KEY_PATTERN,
    IdempotentReplay,
    Role,
    Scope,
    TenantCreated,
    is_valid_scope,
)
from clinic.errors import (
    ApiClientNameTaken,
    FieldProblem,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidScopes,
    NotFound,
    PolicyTemplateNotFound,
    PublishOutsideTransaction,
    SiteCodeTaken,
    TenantAlreadyExists,
    TenantNotFound,
)
from clinic.models import ApiClient, IdempotencyKey, Membership, PolicyTemplate, Site, Tenant
from clinic.outbox import publish

TOKEN_PREFIX = "clk_"  # noqa: S105 - a recognisable prefix, not a secret


# --- Tenancy ------------------------------------------------------------------------------------


def create_tenant(
    *,
    slug: str,
    name: str,
    template: str | None = None,
    policy_overrides: dict[str, Any] | None = None,
    is_active: bool = True,
) -> Tenant:
    """Create a tenant adopting the named policy template (and its own overrides), and publish
    ``tenant.created`` so the apps above the kernel set it up. Runs in the caller's transaction
    when there is one (tests and benchmarks create tenants inside theirs).

    Raises InvalidInput (bad slug, name or overrides), PolicyTemplateNotFound,
    TenantAlreadyExists.
    """
    problems = []
    if not slug or slugify(slug) != slug:
        problems.append(FieldProblem("slug", "must be lower-case letters, digits and hyphens"))
    if not name.strip():
        problems.append(FieldProblem("name", "must not be blank"))
    problems += policy.validate_document(policy_overrides or {}, field="policy_overrides")
    if problems:
        raise InvalidInput("The tenant is not valid.", problems)
    template_row = None
    if template:
        template_row = PolicyTemplate.objects.filter(name=template).first()
        if template_row is None:
            raise PolicyTemplateNotFound(f"No policy template named {template!r}.")
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(
                slug=slug,
                name=name.strip(),
                policy_template=template_row,
                policy_overrides=policy_overrides or {},
                is_active=is_active,
            )
            # Apps above the kernel set the tenant up (identity seeds its identifier systems).
            publish(payload=TenantCreated(slug=tenant.slug), tenant_id=tenant.pk)
    except IntegrityError as exc:
        raise TenantAlreadyExists(f"A tenant with slug {slug!r} already exists.") from exc
    return tenant


def set_policy_overrides(*, tenant_id: int, overrides: dict[str, Any]) -> Tenant:
    """Replace a tenant's policy overrides. Raises InvalidInput naming each bad key."""
    problems = policy.validate_document(overrides, field="policy_overrides")
    if problems:
        raise InvalidInput("The policy overrides are not valid.", problems)
    updated = Tenant.objects.filter(pk=tenant_id).update(policy_overrides=overrides, updated_at=timezone.now())
    if not updated:
        raise TenantNotFound("No such tenant.")
    return Tenant.objects.get(pk=tenant_id)


def create_site(
    *, tenant_id: int, code: str, name: str, timezone_name: str = "Europe/London", address: str = ""
) -> Site:
    """Create a site of the tenant. Raises InvalidInput, SiteCodeTaken."""
    import zoneinfo

    problems = []
    if not code or slugify(code) != code:
        problems.append(FieldProblem("code", "must be lower-case letters, digits and hyphens"))
    if not name.strip():
        problems.append(FieldProblem("name", "must not be blank"))
    if timezone_name not in zoneinfo.available_timezones():
        problems.append(FieldProblem("timezone", f"unknown time zone {timezone_name!r} (use an IANA name)"))
    if problems:
        raise InvalidInput("The site is not valid.", problems)
    try:
        with transaction.atomic():
            return Site.objects.create(
                tenant_id=tenant_id, code=code, name=name.strip(), timezone=timezone_name, address=address
            )
    except IntegrityError as exc:
        raise SiteCodeTaken(f"This tenant already has a site with code {code!r}.") from exc


def add_member(
    *, tenant_id: int, username: str, role: Role, password: str | None = None, is_staff: bool = False
) -> Membership:
    """Create the user if needed (with ``password``) and give them ``role`` in the tenant.
    Idempotent: an existing membership gets the new role."""
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=username)
        if created or password is not None:
            if password is not None:
                user.set_password(password)
            else:
                user.set_unusable_password()
        if is_staff:
            user.is_staff = True
        user.save()
        membership, _ = Membership.objects.update_or_create(
            user=user, tenant_id=tenant_id, defaults={"role": role.value}
        )
    return membership


# --- API clients --------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _checked_scopes(scopes: list[str] | None) -> list[str]:
    chosen = list(DEFAULT_CLIENT_SCOPES) if scopes is None else list(dict.fromkeys(scopes))
    bad = [s for s in chosen if not is_valid_scope(s)]
    if bad:
        raise InvalidScopes(
            "Unknown scopes: " + ", ".join(bad),
            [FieldProblem("scopes", f"unknown scope {s!r}") for s in bad],
        )
    return chosen


def create_api_client(*, tenant_id: int, name: str, scopes: list[str] | None = None) -> tuple[ApiClient, str]:
    """Create an API client and return it with its token (shown once; only its hash is kept).

    Raises InvalidInput (blank name), InvalidScopes, ApiClientNameTaken.
    """
    if not name.strip():
        raise InvalidInput("The API client is not valid.", [FieldProblem("name", "must not be blank")])
    checked = _checked_scopes(scopes)
    token = _new_token()
    try:
        with transaction.atomic():
            client = ApiClient.objects.create(
                tenant_id=tenant_id,
                name=name.strip(),
                scopes=checked,
                token_prefix=token[:12],
                token_sha256=hash_token(token),
            )
    except IntegrityError as exc:
        raise ApiClientNameTaken(f"This tenant already has an API client named {name!r}.") from exc
    return client, token


def rotate_api_client_token(*, client_id: UUID) -> tuple[ApiClient, str]:
    """Give the client a new token; the old one stops working at once."""
    token = _new_token()
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().filter(pk=client_id).first()
        if client is None:
            raise NotFound("No such API client.")
        client.token_prefix = token[:12]
        client.token_sha256 = hash_token(token)
        client.save(update_fields=["token_prefix", "token_sha256"])
    return client, token


def rotate_api_client_tokens(*, client_ids: list[UUID]) -> list[tuple[ApiClient, str]]:
    """Give each client a new token, all in one transaction (an operator's action on several
    clients); returns each client with its new token, to be shown once. Raises NotFound."""
    with transaction.atomic(durable=True):
        return [rotate_api_client_token(client_id=client_id) for client_id in client_ids]


def touch_api_client(*, client_id: UUID) -> None:
    """Record use of a client, at most once a minute (keeps authentication a read in the common
    case)."""
    now = timezone.now()
    ApiClient.objects.filter(pk=client_id).exclude(last_used_at__gt=now - timedelta(minutes=1)).update(last_used_at=now)


# --- Idempotency keys ---------------------------------------------------------------------------


def request_fingerprint(data: Any) -> str:
    """A stable digest of a request body (key order does not matter)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_idempotency_key(*, tenant_id: int, scope: str, key: str, fingerprint: str) -> IdempotentReplay | None:
    """Claim ``key`` for this request inside the caller's transaction.

    Returns the stored outcome when the key was already used for the same request (the caller
    returns it and writes nothing), or None when the caller should do the work and then call
    ``complete_idempotency_key``. A concurrent request with the same key waits here until the
    first commits. Raises IdempotencyKeyInvalid, IdempotencyKeyReused.
    """
    if not connection.in_atomic_block:
        raise PublishOutsideTransaction("claim_idempotency_key must run inside transaction.atomic")
    if not IDEMPOTENCY_KEY_PATTERN.match(key):
        raise IdempotencyKeyInvalid(
            "Invalid Idempotency-Key.",
            [FieldProblem("Idempotency-Key", "must be 1 to 200 printable ASCII characters without spaces")],
        )
    IdempotencyKey.objects.bulk_create(
        [IdempotencyKey(tenant_id=tenant_id, scope=scope, key=key, fingerprint=fingerprint)], ignore_conflicts=True
    )
    row = IdempotencyKey.objects.select_for_update().get(tenant_id=tenant_id, scope=scope, key=key)
    if row.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request.",
            [FieldProblem("Idempotency-Key", "already used with a different request body")],
        )
    if row.result is not None:
        return IdempotentReplay(result=row.result)
    return None


def complete_idempotency_key(*, tenant_id: int, scope: str, key: str, result: dict[str, Any]) -> None:
    """Record the outcome of the request that claimed ``key`` (same transaction)."""
    IdempotencyKey.objects.filter(tenant_id=tenant_id, scope=scope, key=key).update(result=result)


# --- Demo ---------------------------------------------------------------------------------------

DEMO_CLIENT_NAME = "demo-integrator"
DEMO_CLIENT_SCOPES = [Scope.API_READ, Scope.API_WRITE, Scope.TENANT_ADMIN, Scope.HL7_SUBMIT, "system/*.read"]


def set_up_demo_tenant(*, slug: str, password: str) -> tuple[Tenant, str]:
    """Create or refresh the demo tenant: a site, a demo admin, a demo clinician and a demo
    front-desk user (all with ``password``), and the demo API client, whose token is rotated on every call. Idempotent
    otherwise. Returns the tenant and the client's new token (shown once)."""
    with transaction.atomic(durable=True):
        tenant = Tenant.objects.filter(slug=slug).first() or create_tenant(slug=slug, name="Demo Clinic")
        if not Site.objects.filter(tenant=tenant, code="main").exists():
            create_site(tenant_id=tenant.pk, code="main", name="Demo Clinic, Main Street")
        add_member(tenant_id=tenant.pk, username=f"{slug}-admin", role=Role.ADMIN, password=password, is_staff=True)
        add_member(tenant_id=tenant.pk, username=f"{slug}-clinician", role=Role.CLINICIAN, password=password)
        add_member(tenant_id=tenant.pk, username=f"{slug}-desk", role=Role.FRONT_DESK, password=password)
        existing = ApiClient.objects.filter(tenant=tenant, name=DEMO_CLIENT_NAME).first()
        if existing is None:
            _client, token = create_api_client(
                tenant_id=tenant.pk, name=DEMO_CLIENT_NAME, scopes=[str(s) for s in DEMO_CLIENT_SCOPES]
            )
        else:
            _client, token = rotate_api_client_token(client_id=existing.pk)
    return tenant, token


def seed_demo(*, tenant_id: int) -> list[str]:
    """Give a tenant the demo content of every app: each registered demo step (``clinic.demo``),
    lowest layer first, in one transaction (the use case: commits). Idempotent. Returns the
    lines the steps report. Raises what a step raises (e.g. InvalidInput: the tenant lacks
    something the demo needs); nothing is written then."""
    lines: list[str] = []
    with transaction.atomic(durable=True):
        for step in demo.steps():
            lines += step.seed(tenant_id=tenant_id)
    return lines
