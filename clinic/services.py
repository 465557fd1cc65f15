"""Kernel writes: tenancy, API clients, and the event outbox (publish, deliver, sweep).

Every function is keyword-only and typed; the exceptions it raises are in ``clinic.errors``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID, uuid4

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from clinic import events, policy
from clinic.contracts import (
    DEFAULT_CLIENT_SCOPES,
    EVENT_TYPE_PATTERN,
    IDEMPOTENCY_KEY_PATTERN,
    TENANT_CREATED,
    DeliveryOutcome,
    Event,
    IdempotentReplay,
    Role,
    is_valid_scope,
)
from clinic.errors import (
    ApiClientNameTaken,
    FieldProblem,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InvalidEvent,
    InvalidInput,
    InvalidScopes,
    NotFound,
    PolicyTemplateNotFound,
    PublishOutsideTransaction,
    SiteCodeTaken,
    TenantAlreadyExists,
    TenantNotFound,
)
from clinic.models import (
    ApiClient,
    EventDelivery,
    IdempotencyKey,
    Membership,
    OutboxEvent,
    PolicyTemplate,
    Site,
    Tenant,
)

logger = logging.getLogger("clinic.events")

TOKEN_PREFIX = "clk_"  # noqa: S105 - a recognisable prefix, not a secret


# --- Tenancy ------------------------------------------------------------------------------------


def create_tenant(*, slug: str, name: str, template: str | None = None) -> Tenant:
    """Create a tenant adopting the named policy template.

    Raises InvalidInput (bad slug or name), PolicyTemplateNotFound, TenantAlreadyExists.
    """
    problems = []
    if not slug or slugify(slug) != slug:
        problems.append(FieldProblem("slug", "must be lower-case letters, digits and hyphens"))
    if not name.strip():
        problems.append(FieldProblem("name", "must not be blank"))
    if problems:
        raise InvalidInput("The tenant is not valid.", problems)
    template_row = None
    if template:
        template_row = PolicyTemplate.objects.filter(name=template).first()
        if template_row is None:
            raise PolicyTemplateNotFound(f"No policy template named {template!r}.")
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(slug=slug, name=name.strip(), policy_template=template_row)
            # Apps above the kernel set the tenant up (identity seeds its identifier systems).
            publish(type=TENANT_CREATED, tenant_id=tenant.pk, payload={"slug": tenant.slug})
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


# --- Event outbox -------------------------------------------------------------------------------


def publish(
    *,
    type: str,
    tenant_id: int,
    payload: dict[str, Any] | None = None,
    patient_id: UUID | None = None,
    encounter_id: UUID | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """Write an event to the outbox inside the caller's transaction and deliver it after commit.

    A rolled-back transaction publishes nothing. Raises PublishOutsideTransaction when called
    outside ``transaction.atomic``, InvalidEvent for a malformed type or a payload that is not
    JSON-serialisable.
    """
    if not connection.in_atomic_block:
        raise PublishOutsideTransaction(f"publish({type!r}) must run inside transaction.atomic")
    if not EVENT_TYPE_PATTERN.match(type):
        raise InvalidEvent(f"Invalid event type {type!r}.", [FieldProblem("type", "use dotted lower_snake words")])
    payload = payload or {}
    try:
        # Round-trip so subscribers see exactly what the database stores (UUIDs, dates as text).
        payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    except (TypeError, ValueError) as exc:
        raise InvalidEvent(f"Event payload is not JSON-serialisable: {exc}") from exc
    now = timezone.now()
    event = Event(
        id=uuid4(),
        type=type,
        tenant_id=tenant_id,
        payload=payload,
        occurred_at=occurred_at or now,
        recorded_at=now,
        patient_id=patient_id,
        encounter_id=encounter_id,
    )
    # One statement, no ORM: clinical steps publish on their hot path (a lab result, an order).
    from clinic.db import prepared_cursor

    with prepared_cursor() as cursor:
        cursor.execute(
            _PUBLISH_SQL,
            [
                event.id,
                type,
                tenant_id,
                patient_id,
                encounter_id,
                json.dumps(payload),
                event.occurred_at,
                now,
                now,
                now + timedelta(seconds=settings.CLINIC_OUTBOX_SWEEP_GRACE_SECONDS),
            ],
        )
    transaction.on_commit(partial(dispatch_event, event_id=event.id), robust=True)
    return event


_PUBLISH_SQL = """
INSERT INTO clinic_outboxevent
       (id, type, tenant_id, patient_id, encounter_id, payload, occurred_at, recorded_at, dispatched_at,
        dispatch_count, sweep_after)
VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, 1, %s)
"""


def dispatch_event(*, event_id: UUID, retry: bool = True) -> bool:
    """Hand an event to the broker. Returns False (and logs) when the broker is unreachable:
    the event stays in the outbox and the sweep dispatches it later.

    ``retry``: whether the delivery task retries a failing subscriber by itself (the first
    dispatch does, with short delays; a sweep's re-dispatch does not: the sweep's doubling
    back-off paces those attempts)."""
    from clinic.tasks import deliver_event  # tasks import services; import here to avoid a cycle

    try:
        deliver_event.apply_async(kwargs={"event_id": str(event_id), "retry": retry})
    except Exception as exc:  # the broker's errors vary by transport; any failure is "later"
        logger.warning("outbox.dispatch_failed event=%s error=%s", event_id, type(exc).__name__)
        return False
    return True


def as_contract(row: OutboxEvent) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        tenant_id=row.tenant_id,
        payload=row.payload,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        patient_id=row.patient_id,
        encounter_id=row.encounter_id,
    )


def deliver_event(*, event_id: UUID) -> DeliveryOutcome:
    """Run every subscriber of the event that has not run yet, each in its own transaction.

    Each subscriber's effect commits together with its delivery record, and the record is
    unique per (event, subscriber), so redelivery, concurrent delivery and retries run an
    effect at most once. A failing subscriber is recorded (attempts, last error) and reported
    in the outcome; the others are unaffected.
    """
    # Raw SQL on this path: every event of every clinical step comes through here.
    with connection.cursor() as cursor:
        cursor.execute(_EVENT_SQL, [event_id])
        found = cursor.fetchone()
    if found is None:
        raise NotFound(f"No event {event_id}.")
    outcome_delivered: list[str] = []
    outcome_already: list[str] = []
    outcome_failed: list[str] = []
    if found[-1] is None:  # delivered_at
        payload = found[3] if isinstance(found[3], dict) else json.loads(found[3])
        event = Event(
            id=found[0],
            type=found[1],
            tenant_id=found[2],
            payload=payload,
            occurred_at=found[4],
            recorded_at=found[5],
            patient_id=found[6],
            encounter_id=found[7],
        )
        for subscriber in events.subscribers_for(event.type):
            try:
                result = _deliver_to(event, subscriber)
            except Exception as exc:
                # Raised after the delivery committed (a handler's on_commit callback): the
                # effect is recorded; do not let it starve the other subscribers.
                logger.warning(
                    "event.after_commit_failed event=%s subscriber=%s error=%s",
                    event.id,
                    subscriber.name,
                    type(exc).__name__,
                )
                result = "delivered"
            {"delivered": outcome_delivered, "already": outcome_already, "failed": outcome_failed}[result].append(
                subscriber.name
            )
        if not outcome_failed:
            # Bookkeeping, not a clinical write: without waiting for the disk (if it is lost in a
            # crash, the sweep re-dispatches the event and every subscriber answers "already").
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                cursor.execute(
                    "UPDATE clinic_outboxevent SET delivered_at = %s WHERE id = %s AND delivered_at IS NULL",
                    [timezone.now(), event_id],
                )
    return DeliveryOutcome(
        event_id=event_id,
        delivered=tuple(outcome_delivered),
        already_delivered=tuple(outcome_already),
        failed=tuple(outcome_failed),
    )


_EVENT_SQL = """
SELECT id, type, tenant_id, payload, occurred_at, recorded_at, patient_id, encounter_id, delivered_at
  FROM clinic_outboxevent WHERE id = %s
"""

# Claim the (event, subscriber) delivery row, locked, in one statement: the insert when it is
# new, the row (locked by the no-op update) when it exists. A concurrent delivery waits here.
_CLAIM_SQL = """
INSERT INTO clinic_eventdelivery (event_id, subscriber, attempts, last_error)
VALUES (%s, %s, 0, '')
ON CONFLICT (event_id, subscriber) DO UPDATE SET subscriber = EXCLUDED.subscriber
RETURNING id, attempts, delivered_at
"""


def _claim(event: Event, subscriber: events.Subscriber) -> tuple[int, int, datetime | None]:
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [event.id, subscriber.name])
        delivery_id, attempts, delivered_at = cursor.fetchone()
    return delivery_id, attempts, delivered_at


def _deliver_to(event: Event, subscriber: events.Subscriber) -> str:
    """Run one subscriber for one event, at most once: its effects commit with the delivery
    record. A failure rolls the effects back and is recorded in a transaction of its own."""
    try:
        with transaction.atomic(durable=True):
            delivery_id, attempts, delivered_at = _claim(event, subscriber)
            if delivered_at is not None:
                return "already"
            subscriber.handler(event)
            now = timezone.now()
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE clinic_eventdelivery SET attempts = %s, last_attempt_at = %s, last_error = '',"
                    " delivered_at = %s WHERE id = %s",
                    [attempts + 1, now, now, delivery_id],
                )
    except Exception as exc:
        with transaction.atomic(durable=True):
            delivery_id, attempts, delivered_at = _claim(event, subscriber)
            if delivered_at is not None:  # another delivery succeeded meanwhile
                return "already"
            EventDelivery.objects.filter(pk=delivery_id).update(
                attempts=attempts + 1, last_attempt_at=timezone.now(), last_error=f"{type(exc).__name__}: {exc}"[:2000]
            )
        logger.warning(
            "event.subscriber_failed event=%s type=%s subscriber=%s attempt=%s error=%s",
            event.id,
            event.type,
            subscriber.name,
            attempts + 1,
            type(exc).__name__,
        )
        return "failed"
    return "delivered"


def postpone_sweep(*, event_id: UUID, seconds: float) -> None:
    """The delivery task will retry by itself in ``seconds``: keep the sweep away until then
    (never bring the sweep forward: its own back-off may already be longer)."""
    from django.db.models.functions import Greatest

    grace = settings.CLINIC_OUTBOX_SWEEP_GRACE_SECONDS
    OutboxEvent.objects.filter(pk=event_id, delivered_at__isnull=True).update(
        sweep_after=Greatest("sweep_after", timezone.now() + timedelta(seconds=seconds + grace))
    )


def sweep_outbox(*, limit: int | None = None) -> int:
    """Re-dispatch undelivered events whose ``sweep_after`` has passed; return how many.

    Safe to run from several processes at once (rows are claimed with SKIP LOCKED). Each
    re-dispatch of an event waits twice as long as the previous one before the next (capped),
    so a subscriber that keeps failing is not hammered. At the first broker failure the
    remaining claimed events are released unchanged, for the next pass.
    """
    limit = limit or settings.CLINIC_OUTBOX_SWEEP_BATCH
    grace = settings.CLINIC_OUTBOX_SWEEP_GRACE_SECONDS
    cap = settings.CLINIC_OUTBOX_SWEEP_MAX_BACKOFF_SECONDS
    claimed: list[tuple[UUID, int, datetime]] = []
    with transaction.atomic(durable=True):
        due = (
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(delivered_at__isnull=True, sweep_after__lte=timezone.now())
            .order_by("sweep_after")
            .values_list("id", "dispatch_count", "sweep_after")[:limit]
        )
        for event_id, count, sweep_after in due:
            now = timezone.now()
            backoff = min(grace * 2 ** min(count, 16), cap)
            OutboxEvent.objects.filter(pk=event_id).update(
                dispatched_at=now, dispatch_count=count + 1, sweep_after=now + timedelta(seconds=backoff)
            )
            claimed.append((event_id, count, sweep_after))
    # Dispatch after commit: in eager mode (no broker) delivery runs inline and needs its own
    # transactions.
    dispatched = 0
    for index, (event_id, _count, _sweep_after) in enumerate(claimed):
        if not dispatch_event(event_id=event_id, retry=False):
            for undo_id, undo_count, undo_sweep_after in claimed[index:]:
                OutboxEvent.objects.filter(pk=undo_id, delivered_at__isnull=True).update(
                    dispatch_count=undo_count, sweep_after=undo_sweep_after
                )
            break
        dispatched += 1
    if dispatched:
        logger.info("outbox.swept dispatched=%s", dispatched)
    return dispatched
