"""The exceptions of orders (re-exported by ``orders.facade``). No Django imports.

Each ``code`` is stable for integrators: it is the ``code`` of the problem document the REST API
answers with."""

from __future__ import annotations

from clinic.contracts import Conflict, InvalidInput, NotFound

__all__ = ["EncounterClosed", "OrderNotFound", "UnknownCatalogueCode"]


class OrderNotFound(NotFound):
    code = "order-not-found"


class EncounterClosed(Conflict):
    """Orders need an open encounter (planned, arrived or in progress)."""

    code = "encounter-closed"


class UnknownCatalogueCode(InvalidInput):
    """A code is not in the tenant's lab catalogue."""

    code = "unknown-catalogue-code"
