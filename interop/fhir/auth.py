"""Who is calling: the API client of the bearer token (no token 401, bad token 401). Lookups
are cached for ``CLINIC_FHIR_TOKEN_CACHE_SECONDS`` (default 5; 0 turns the cache off), so a
revoked token stops working within that time."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings

from clinic import facade as clinic
from clinic.contracts import Principal
from interop.fhir.errors import Unauthorized

_cache: dict[str, tuple[float, Principal]] = {}
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="fhir"'}


def principal(authorization: str) -> Principal:
    if not authorization:
        raise Unauthorized("Authentication required: send Authorization: Bearer <token>.", headers=CHALLENGE)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("Malformed Authorization header: expected 'Bearer <token>'.", headers=CHALLENGE)
    ttl = float(getattr(settings, "CLINIC_FHIR_TOKEN_CACHE_SECONDS", 5))
    key = hashlib.sha256(token.encode()).hexdigest()
    now = time.monotonic()
    hit = _cache.get(key)
    if hit and hit[0] > now:
        return hit[1]
    found = clinic.principal_for_token(token)
    if found is None:
        _cache.pop(key, None)
        raise Unauthorized("Invalid or revoked API token.", headers=CHALLENGE)
    if ttl > 0:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[key] = (now + ttl, found)
    return found
