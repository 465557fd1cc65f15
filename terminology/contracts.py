"""Public plain data of terminology. No Django imports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from clinic.contracts import EventPayload, described

MAPPING_PUBLISHED = "terminology.mapping_published"  # payload: MappingPublished

LOINC = "http://loinc.org"
SNOMED_CT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


def catalogue_system(tenant_slug: str) -> str:
    """The code system of a tenant's orderable tests (its lab catalogue)."""
    return f"urn:clinic:{tenant_slug}:lab-catalogue"


def fee_code_system(tenant_slug: str) -> str:
    """The code system of a tenant's fee (billing) codes."""
    return f"urn:clinic:{tenant_slug}:fee-codes"


CATALOGUE_TO_LOINC_MAP = "lab-catalogue-to-loinc"
CATALOGUE_TO_FEES_MAP = "lab-catalogue-to-fees"


def v2_table(number: str) -> str:
    """Canonical URI of an HL7 v2 table, e.g. '0078' → http://terminology.hl7.org/CodeSystem/v2-0078."""
    return f"http://terminology.hl7.org/CodeSystem/v2-{number}"


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str
    display: str = ""


@dataclass(frozen=True, slots=True)
class MapVersionRef:
    map_name: str
    map_url: str
    version: str
    published_at: datetime | None
    tenant_id: int | None  # None: a global map


@dataclass(frozen=True, slots=True)
class Translation:
    """What ``source`` translates to on a date, and the map version that said so."""

    source: Coding
    target: Coding
    equivalence: str
    comment: str
    valid_from: date
    valid_to: date | None
    map_version: MapVersionRef
    target_status: str  # "active", "retired" (on that date), or "unknown" (not in our concepts)


@dataclass(frozen=True, slots=True)
class CodedValue:
    """A coded value as other apps store it: the original as received, the translation used and
    the map version that supplied it, so history stays readable when maps move on.

    ``as_dict``/``from_dict`` give the JSON to keep in a JSONField."""

    original: Coding
    translated: Coding | None = None
    map_name: str = ""
    map_version: str = ""
    as_of: date | None = None

    @property
    def mapped(self) -> bool:
        return self.translated is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "original": {"system": self.original.system, "code": self.original.code, "display": self.original.display},
            "translated": (
                {"system": self.translated.system, "code": self.translated.code, "display": self.translated.display}
                if self.translated
                else None
            ),
            "map": {"name": self.map_name, "version": self.map_version} if self.translated else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodedValue:
        translated = data.get("translated")
        as_of = data.get("as_of")
        return cls(
            original=Coding(**data["original"]),
            translated=Coding(**translated) if translated else None,
            map_name=(data.get("map") or {}).get("name", ""),
            map_version=(data.get("map") or {}).get("version", ""),
            as_of=date.fromisoformat(as_of) if as_of else None,
        )


@dataclass(frozen=True, slots=True)
class UnmappedRecord:
    id: int
    source_system: str
    code: str
    target_system: str
    display: str
    first_seen_at: datetime
    last_seen_at: datetime
    count: int
    last_reference: str
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class LoadResult:
    map_name: str
    version: str
    entries: int
    created: bool  # False: the same file was loaded before (nothing changed)
    published: bool


# --- Events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReleasedCode:
    """A code that had no translation and has one now."""

    system: str
    code: str
    target_system: str


@dataclass(frozen=True, slots=True)
class MappingPublished(EventPayload):
    """A published concept map version translates codes that were on the tenant's unmapped work
    list (each tenant hears of its own codes)."""

    event_type: ClassVar[str] = MAPPING_PUBLISHED

    map: str = described("the concept map's name")
    version: str = described("the version published")
    codes: tuple[ReleasedCode, ...] = described("the tenant's codes it resolved (system, code, target_system)")


PUBLISHED_EVENTS = (MappingPublished,)
