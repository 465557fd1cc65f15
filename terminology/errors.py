"""The exceptions terminology raises (public: re-exported by ``terminology.facade``).

Each derives from a kernel family (``clinic.contracts``), which the HTTP edges map to one status:
NotFound 404, Conflict 409, InvalidInput 422. ``code`` is stable for integrators. No Django
imports.
"""

from __future__ import annotations

from clinic.contracts import Conflict, InvalidInput, NotFound

__all__ = ["InvalidMapFile", "MapVersionConflict", "MapVersionNotFound", "Unmapped"]


class InvalidMapFile(InvalidInput):
    """A concept map file with problems (each named with its line); nothing was loaded."""

    code = "invalid-map-file"


class MapVersionConflict(Conflict):
    """This version label of the map exists already, with other content."""

    code = "map-version-conflict"


class MapVersionNotFound(NotFound):
    code = "map-version-not-found"


class Unmapped(NotFound):
    """No map translates the code to the target system on that date."""

    code = "unmapped"
