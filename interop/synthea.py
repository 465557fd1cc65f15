"""Loading Synthea FHIR R4 bundles (https://github.com/synthetichealth/synthea) into the model,
so that the FHIR read API and the UI can be exercised on realistic (synthetic) records.

A bundle is loaded in one transaction, through the public facades of the apps that own each
thing, exactly as the HL7 v2 edge charts a result:

- **Patient** → ``identity.facade.register_patient``, identified by its Synthea ID (the
  identifier with system ``https://github.com/synthetichealth/synthea``, else the resource id)
  in an identifier system of that URI the tenant is given (assigning authority ``SYNTHEA``).
  Name, other names, birth date, gender, telecom and address are kept; the hospital MRN,
  SSN, driver's licence and passport identifiers are not (the tenant has no such systems).
  Synthea people are synthetic, so a look-alike of an existing patient is registered as new.
- **Encounter** → ``encounters.facade.import_encounter`` at the chosen site, with its status
  and period; the visit number is derived from the Synthea encounter ID (``visit_number``).
- **DiagnosticReport** → one ``results.facade.record_result`` of a ``ResultMessage`` whose
  single report is the DiagnosticReport (accession: its id; no order: it is charted into its
  encounter by visit number, as PV1-19 does) and whose results are the Observations it lists
  (``result``).
- **Observation** not listed by any report, of category ``laboratory`` or ``vital-signs``:
  grouped into one report per encounter and category (code LOINC 11502-2 "Laboratory report"
  or 85353-1 "Vital signs panel"; accession ``<visit number>/<category>``), charted the same way.
  Other categories (``survey``, ``social-history``...) are skipped.

Values: ``valueQuantity`` → NM with its unit (UCUM when the quantity's system is UCUM),
``valueInteger`` → NM, ``valueCodeableConcept`` → CWE (LOINC or SNOMED CT codings),
``valueString`` → ST; an Observation without a value but with ``component`` (blood pressure) is
charted as its components, each with its own code. Codes must be LOINC (v2 system ``LN``).

Everything else is skipped and counted by resource type: Organization, Practitioner,
Condition, Procedure, Immunization, MedicationRequest, Claim, ExplanationOfBenefit..., and an
Observation or DiagnosticReport that cannot be charted (no LOINC code, no chartable value, its
encounter or patient not in the bundle).

Every write is idempotent (identifier, visit number, result business key), so loading a bundle
again creates nothing. A bundle that cannot be loaded raises ``BundleInvalid`` (or the domain
error of the facade that refused it) and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from uuid import UUID

from django.db import transaction

from encounters.contracts import EncounterStatus
from encounters.facade import find_encounter_by_visit_number, import_encounter
from identity.contracts import ContactPoint, Demographics, Gender, HumanName, IdentifierInput
from identity.facade import ensure_identifier_system, register_patient
from interop.errors import BundleInvalid
from results.contracts import (
    ChartStatus,
    CodedInput,
    ObservationInput,
    PatientIdentifierInput,
    ReportInput,
    ResultMessage,
    ValueType,
)
from results.facade import record_result

SYNTHEA_SYSTEM = "https://github.com/synthetichealth/synthea"
SYNTHEA_AUTHORITY = "SYNTHEA"  # CX-4 of the identifier system, and the results' sending facility
SYNTHEA_ID_PATTERN = r"^[A-Za-z0-9.-]{1,64}$"  # FHIR id (https://hl7.org/fhir/R4/datatypes.html#id)
ACTOR = "synthea-loader"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# FHIR code systems → the HL7 v2 coding system names (table 0396) results knows them by.
V2_SYSTEMS = {LOINC: "LN", SNOMED: "SCT"}

# Observations no report lists are charted in a report per encounter and category.
GROUPED_CATEGORIES = {
    "laboratory": CodedInput(code="11502-2", display="Laboratory report", v2_system="LN"),
    "vital-signs": CodedInput(
        code="85353-1",
        display="Vital signs, weight, height, head circumference, oxygen saturation and BMI panel",
        v2_system="LN",
    ),
}

# FHIR R4 Encounter.status → ours (http://hl7.org/fhir/R4/valueset-encounter-status.html);
# entered-in-error and unknown encounters are skipped.
ENCOUNTER_STATUS = {
    "planned": EncounterStatus.PLANNED,
    "arrived": EncounterStatus.ARRIVED,
    "triaged": EncounterStatus.ARRIVED,
    "in-progress": EncounterStatus.IN_PROGRESS,
    "onleave": EncounterStatus.IN_PROGRESS,
    "finished": EncounterStatus.FINISHED,
    "cancelled": EncounterStatus.CANCELLED,
}
# FHIR Observation.status → OBX-11 (HL7 table 0085), which results maps back to FHIR.
OBSERVATION_STATUS = {
    "registered": "I",
    "preliminary": "P",
    "final": "F",
    "amended": "C",
    "corrected": "C",
    "cancelled": "X",
    "entered-in-error": "W",
}
# FHIR DiagnosticReport.status → OBR-25 (HL7 table 0123).
REPORT_STATUS = {
    "registered": "I",
    "partial": "A",
    "preliminary": "P",
    "final": "F",
    "amended": "C",
    "corrected": "C",
    "appended": "C",
    "cancelled": "X",
}

VISIT_NUMBER_PREFIX = "SY"
VISIT_NUMBER_LENGTH = 20  # encounters.Encounter.visit_number
NUMERIC_PRECISION = Decimal("1e-8")  # what results stores (numeric(24, 8))


@dataclass
class BundleOutcome:
    """What loading one bundle did: rows created, rows found from an earlier load, resources
    skipped by type."""

    created: Counter[str] = field(default_factory=Counter)
    existing: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)  # charted before, changed since
    skipped: Counter[str] = field(default_factory=Counter)


def bundle_files(paths: list[str]) -> list[Path]:
    """The files to load: each file named, and the ``*.json`` files of each directory named
    (sorted). Raises BundleInvalid for a path that does not exist or a directory without any."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.json") if p.is_file())
            if not found:
                raise BundleInvalid(f"{name}: the directory holds no .json file.")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise BundleInvalid(f"{name}: no such file or directory.")
    return files


def read_bundle(path: Path) -> dict[str, Any]:
    """The bundle in ``path``, checked to be a FHIR Bundle of resources. Raises BundleInvalid."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise BundleInvalid(f"{path}: cannot be read ({exc.strerror}).") from exc
    except UnicodeDecodeError as exc:
        raise BundleInvalid(f"{path}: is not UTF-8 text.") from exc
    try:
        # Decimals as written: 15.535720840861128 is charted as sent, not as a binary float.
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise BundleInvalid(f"{path}: is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        kind = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise BundleInvalid(f"{path}: is not a FHIR Bundle (resourceType {kind!r}).")
    entries = data.get("entry", [])
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("resource"), dict) and e["resource"].get("resourceType")
        for e in entries
    ):
        raise BundleInvalid(f"{path}: every Bundle.entry must hold a resource with a resourceType.")
    return data


def visit_number(encounter_id: str) -> str:
    """A visit number for a Synthea encounter, the same on every load: ``SY`` and the first 18
    hex digits of its UUID (or of the SHA-256 of an id that is not a UUID), 72 bits."""
    try:
        digits = UUID(encounter_id).hex
    except ValueError:
        digits = hashlib.sha256(encounter_id.encode()).hexdigest()
    return (VISIT_NUMBER_PREFIX + digits.upper())[:VISIT_NUMBER_LENGTH]


def load_bundle(*, tenant_id: int, site_id: int, bundle: dict[str, Any], source: str) -> BundleOutcome:
    """Load one bundle (read with ``read_bundle``) into the tenant, its encounters at
    ``site_id``, in one transaction: all of it or nothing. ``source`` names it on the results
    (e.g. the file name). Raises BundleInvalid, and the DomainError of a facade that refuses a
    resource (InvalidInput for a patient without a family name...)."""
    loader = _Loader(tenant_id, site_id, bundle, source)
    try:
        with transaction.atomic(durable=True):
            return loader.load()
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # A resource not shaped as FHIR says (a string where an object belongs, a date that is
        # not one): name it rather than fail with a traceback. Nothing was kept.
        where = loader.current or {}
        raise BundleInvalid(
            f"{where.get('resourceType', 'A resource')} {where.get('id', '')}: malformed ({type(exc).__name__}: {exc})."
        ) from exc


class _Loader:
    def __init__(self, tenant_id: int, site_id: int, bundle: dict[str, Any], source: str) -> None:
        self.tenant_id = tenant_id
        self.site_id = site_id
        self.source = f"synthea:{source}"[:100]
        self.resources: list[dict[str, Any]] = [e["resource"] for e in bundle.get("entry", [])]
        self.by_reference: dict[str, dict[str, Any]] = {}
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            if entry.get("fullUrl"):
                self.by_reference[entry["fullUrl"]] = resource
            if resource.get("id"):
                self.by_reference[f"{resource['resourceType']}/{resource['id']}"] = resource
        self.patients: dict[int, tuple[UUID, str]] = {}  # id(resource) → (patient, Synthea ID)
        self.visits: dict[int, str] = {}  # id(resource) → visit number
        self.outcome = BundleOutcome()
        self.current: dict[str, Any] | None = None  # the resource being loaded (for errors)

    def load(self) -> BundleOutcome:
        ensure_identifier_system(
            tenant_id=self.tenant_id,
            uri=SYNTHEA_SYSTEM,
            name="Synthea patient ID",
            assigning_authority=SYNTHEA_AUTHORITY,
            pattern=SYNTHEA_ID_PATTERN,
        )
        handled = {"Patient", "Encounter", "Observation", "DiagnosticReport"}
        for resource in self.resources:
            if resource["resourceType"] == "Patient":
                self._patient(resource)
        for resource in self.resources:
            if resource["resourceType"] == "Encounter":
                self._encounter(resource)
        listed = self._reports()
        self._grouped(listed)
        for resource in self.resources:
            if resource["resourceType"] not in handled:
                self.outcome.skipped[resource["resourceType"]] += 1
        return self.outcome

    # --- Resources --------------------------------------------------------------------------

    def _resolve(self, reference: Any, resource_type: str) -> dict[str, Any] | None:
        target = reference.get("reference") if isinstance(reference, dict) else None
        found = self.by_reference.get(target) if isinstance(target, str) else None
        return found if found is not None and found["resourceType"] == resource_type else None

    def _count(self, what: str, created: bool) -> None:
        (self.outcome.created if created else self.outcome.existing)[what] += 1

    def _patient(self, resource: dict[str, Any]) -> None:
        self.current = resource
        synthea_id = _synthea_id(resource)
        registration = register_patient(
            tenant_id=self.tenant_id,
            identifiers=[IdentifierInput(system=SYNTHEA_SYSTEM, value=synthea_id)],
            demographics=_demographics(resource),
            confirm_new=True,
            actor=ACTOR,
        )
        self.patients[id(resource)] = (registration.patient.id, synthea_id)
        self._count("patients", registration.created)

    def _encounter(self, resource: dict[str, Any]) -> None:
        self.current = resource
        patient = self._resolve(resource.get("subject"), "Patient")
        status = ENCOUNTER_STATUS.get(resource.get("status", ""))
        if patient is None or id(patient) not in self.patients or status is None or not resource.get("id"):
            self.outcome.skipped["Encounter"] += 1
            return
        period = resource.get("period") or {}
        number = visit_number(str(resource["id"]))
        existed = find_encounter_by_visit_number(tenant_id=self.tenant_id, visit_number=number) is not None
        import_encounter(
            tenant_id=self.tenant_id,
            patient_id=self.patients[id(patient)][0],
            site_id=self.site_id,
            visit_number=number,
            status=status,
            period_start=_when(period.get("start"), resource, "period.start"),
            period_end=_when(period.get("end"), resource, "period.end"),
            actor=ACTOR,
        )
        self.visits[id(resource)] = number
        self._count("encounters", not existed)

    def _reports(self) -> set[int]:
        """Chart every DiagnosticReport; the Observations they list (by ``id()``)."""
        listed: set[int] = set()
        for resource in self.resources:
            if resource["resourceType"] != "DiagnosticReport":
                continue
            self.current = resource
            members = [self._resolve(r, "Observation") for r in resource.get("result", [])]
            observations = [m for m in members if m is not None]
            listed.update(id(o) for o in observations)
            where = self._where(resource)
            code = _loinc(resource.get("code"))
            if where is None or code is None or not resource.get("id"):
                self.outcome.skipped["DiagnosticReport"] += 1
                self.outcome.skipped["Observation"] += len(observations)
                continue
            results = self._observations(observations)
            self.current = resource
            if not results:
                self.outcome.skipped["DiagnosticReport"] += 1
                continue
            report = ReportInput(
                set_id="1",
                placer_number="",
                filler_number="",
                accession=str(resource["id"])[:80],
                code=code,
                status=REPORT_STATUS.get(resource.get("status", ""), ""),
                observed_at=_effective(resource),
                reported_at=_when(resource.get("issued"), resource, "issued"),
                comments=(str(resource["conclusion"])[:2000],) if resource.get("conclusion") else (),
                observations=results,
            )
            self._chart(report, *where)
        return listed

    def _grouped(self, listed: set[int]) -> None:
        """Observations no report lists: laboratory and vital signs, one report per encounter
        and category (in bundle order); the others are skipped."""
        groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
        places: dict[tuple[int, str], tuple[str, str]] = {}
        for resource in self.resources:
            if resource["resourceType"] != "Observation" or id(resource) in listed:
                continue
            self.current = resource
            category = next((c for c in _categories(resource) if c in GROUPED_CATEGORIES), None)
            where = self._where(resource)
            if category is None or where is None:
                self.outcome.skipped["Observation"] += 1
                continue
            key = (id(self._resolve(resource.get("encounter"), "Encounter")), category)
            groups.setdefault(key, []).append(resource)
            places[key] = where
        for key, members in groups.items():
            results = self._observations(members)
            if not results:
                continue
            number, patient_synthea_id = places[key]
            observed = [o.observed_at for o in results if o.observed_at]
            analysed = [o.analysed_at for o in results if o.analysed_at]
            report = ReportInput(
                set_id="1",
                placer_number="",
                filler_number="",
                accession=f"{number}/{key[1]}",
                code=GROUPED_CATEGORIES[key[1]],
                observed_at=min(observed) if observed else None,
                reported_at=max(analysed) if analysed else None,
                observations=results,
            )
            self._chart(report, number, patient_synthea_id)

    def _where(self, resource: dict[str, Any]) -> tuple[str, str] | None:
        """(visit number, patient's Synthea ID) of a report or observation, or None when its
        encounter or patient was not loaded."""
        encounter = self._resolve(resource.get("encounter"), "Encounter")
        patient = self._resolve(resource.get("subject"), "Patient")
        if encounter is None or patient is None or id(encounter) not in self.visits or id(patient) not in self.patients:
            return None
        return self.visits[id(encounter)], self.patients[id(patient)][1]

    def _observations(self, resources: list[dict[str, Any]]) -> tuple[ObservationInput, ...]:
        """The results of one report, numbered; an Observation that cannot be charted is
        counted as skipped. A code repeated in the report gets a sub-ID (its second, third...
        occurrence), so each one is charted."""
        out: list[ObservationInput] = []
        seen: Counter[str] = Counter()
        for resource in resources:
            self.current = resource
            inputs = _observation_inputs(resource)
            if not inputs:
                self.outcome.skipped["Observation"] += 1
                continue
            for obs in inputs:
                seen[obs.code.code] += 1
                repeat = seen[obs.code.code]
                out.append(replace(obs, set_id=str(len(out) + 1), sub_id=str(repeat) if repeat > 1 else ""))
        return tuple(out)

    def _chart(self, report: ReportInput, number: str, patient_synthea_id: str) -> None:
        message = ResultMessage(
            sending_facility=SYNTHEA_AUTHORITY,
            patient_identifiers=(PatientIdentifierInput(value=patient_synthea_id, authority=SYNTHEA_AUTHORITY),),
            reports=(report,),
            visit_number=number,
            source=self.source,
        )
        outcome = record_result(tenant_id=self.tenant_id, message=message, actor=ACTOR)
        if outcome.status == ChartStatus.HELD:
            # We registered the patient and imported the visit just before: a hold is a bug here.
            raise BundleInvalid(f"Report {report.accession} could not be charted: {outcome.detail}")
        new_report = outcome.status == ChartStatus.CHARTED and not (
            outcome.updated or outcome.unchanged or outcome.stale
        )
        self._count("reports", new_report)
        self.outcome.created["observations"] += outcome.created
        self.outcome.existing["observations"] += outcome.unchanged + outcome.stale
        self.outcome.updated["observations"] += outcome.updated


# --- Mapping ------------------------------------------------------------------------------------


def _synthea_id(patient: dict[str, Any]) -> str:
    for identifier in patient.get("identifier", []):
        if identifier.get("system") == SYNTHEA_SYSTEM and identifier.get("value"):
            return str(identifier["value"])
    if patient.get("id"):
        return str(patient["id"])
    raise BundleInvalid("A Patient has neither a Synthea identifier nor an id.")


def _demographics(patient: dict[str, Any]) -> Demographics:
    names = [n for n in patient.get("name", []) if isinstance(n, dict) and n.get("family")]
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else None)

    def human(name: dict[str, Any]) -> HumanName:
        given = tuple(str(g).strip() for g in name.get("given", []) if str(g).strip())
        return HumanName(family=str(name["family"]).strip(), given=given, use=str(name.get("use") or "official"))

    born = patient.get("birthDate")
    gender = patient.get("gender")
    return Demographics(
        name=human(official) if official else None,
        other_names=tuple(human(n) for n in names if n is not official),
        # A partial birth date (YYYY or YYYY-MM) is left out rather than guessed.
        birth_date=date.fromisoformat(born) if isinstance(born, str) and len(born) == 10 else None,
        gender=Gender(gender) if gender in {g.value for g in Gender} else None,
        telecom=tuple(
            ContactPoint(system=str(t["system"]), value=str(t["value"]), use=t.get("use"))
            for t in patient.get("telecom", [])
            if t.get("system") and t.get("value")
        ),
        address=tuple(
            {
                k: a[k]
                for k in ("use", "type", "text", "line", "city", "district", "state", "postalCode", "country")
                if k in a
            }
            for a in patient.get("address", [])
        ),
    )


_PARTIAL_DATE = re.compile(r"^\d{4}(-\d{2})?$")


def _when(value: Any, resource: dict[str, Any], what: str) -> datetime | None:
    """A FHIR dateTime/instant as an aware datetime (a date alone, or a partial one, is taken
    as midnight UTC of its first day). Raises BundleInvalid."""
    if value is None:
        return None
    text = str(value)
    if _PARTIAL_DATE.match(text):
        text = (text + "-01-01")[:10]
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BundleInvalid(
            f"{resource.get('resourceType')} {resource.get('id', '?')}: {what} {text!r} is not a FHIR dateTime."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _effective(resource: dict[str, Any]) -> datetime | None:
    if "effectiveDateTime" in resource:
        return _when(resource["effectiveDateTime"], resource, "effectiveDateTime")
    period = resource.get("effectivePeriod") or {}
    return _when(period.get("start"), resource, "effectivePeriod.start")


def _categories(observation: dict[str, Any]) -> list[str]:
    return [
        str(coding.get("code"))
        for concept in observation.get("category", [])
        for coding in concept.get("coding", [])
        if coding.get("system") in (OBSERVATION_CATEGORY, None)
    ]


def _coded(concept: Any, systems: dict[str, str]) -> CodedInput | None:
    """The first coding of ``concept`` in one of ``systems`` (URI → v2 name), or None."""
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding", []):
        v2 = systems.get(coding.get("system", ""))
        if v2 and coding.get("code"):
            display = coding.get("display") or concept.get("text") or ""
            return CodedInput(code=str(coding["code"])[:100], display=str(display)[:200], v2_system=v2)
    return None


def _loinc(concept: Any) -> CodedInput | None:
    return _coded(concept, {LOINC: "LN"})


def _number(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value)).quantize(NUMERIC_PRECISION)
    except (InvalidOperation, ValueError):
        return None
    return number if abs(number) < Decimal("1e16") else None


def _observation_inputs(resource: dict[str, Any]) -> list[ObservationInput]:
    """One result for an Observation with a value, one per component for one without (blood
    pressure); empty when nothing of it can be charted."""
    status = OBSERVATION_STATUS.get(resource.get("status", ""), "")
    observed_at = _effective(resource)
    analysed_at = _when(resource.get("issued"), resource, "issued")
    comments = tuple(str(n["text"])[:2000] for n in resource.get("note", []) if n.get("text"))
    common: dict[str, Any] = {
        "status": status,
        "observed_at": observed_at,
        "analysed_at": analysed_at,
        "abnormal_flags": _flags(resource),
        "reference_range": _reference_range(resource),
        "comments": comments,
    }
    code = _loinc(resource.get("code"))
    if code is None:
        return []
    value = _value(resource)
    if value is not None:
        return [ObservationInput(set_id="", code=code, **value, **common)]
    out = []
    for component in resource.get("component", []):
        component_code = _loinc(component.get("code"))
        component_value = _value(component)
        if component_code is not None and component_value is not None:
            out.append(
                ObservationInput(
                    set_id="",
                    code=component_code,
                    **component_value,
                    **{**common, "abnormal_flags": _flags(component), "reference_range": _reference_range(component)},
                )
            )
    return out


def _value(element: dict[str, Any]) -> dict[str, Any] | None:
    """The ObservationInput value fields of an Observation (or a component), or None."""
    if isinstance(element.get("valueQuantity"), dict):
        quantity = element["valueQuantity"]
        number = _number(quantity.get("value"))
        if number is None:
            return None
        unit = None
        if quantity.get("code") or quantity.get("unit"):
            unit = CodedInput(
                code=str(quantity.get("code") or ""),
                display=str(quantity.get("unit") or ""),
                v2_system="UCUM" if quantity.get("system") == UCUM else "L",
            )
        return {
            "value_type": ValueType.NM.value,
            "numeric": number,
            "comparator": str(quantity.get("comparator", "")),
            "text": str(quantity.get("value")),
            "unit": unit,
        }
    if "valueInteger" in element:
        number = _number(element["valueInteger"])
        return (
            {"value_type": ValueType.NM.value, "numeric": number, "text": str(element["valueInteger"])}
            if number is not None
            else None
        )
    if "valueCodeableConcept" in element:
        coded = _coded(element["valueCodeableConcept"], V2_SYSTEMS)
        if coded is None:
            return None
        return {"value_type": ValueType.CWE.value, "coded": coded, "text": coded.display}
    if isinstance(element.get("valueString"), str):
        return {"value_type": ValueType.ST.value, "text": element["valueString"][:20000]}
    return None


def _flags(element: dict[str, Any]) -> tuple[str, ...]:
    """FHIR interpretation codes (v3 ObservationInterpretation: H, L, A, N, HH, LL...), which are
    the HL7 v2 table 0078 abnormal flags results maps back."""
    return tuple(
        str(coding["code"])[:10]
        for concept in element.get("interpretation", [])
        for coding in concept.get("coding", [])
        if coding.get("system") == INTERPRETATION and coding.get("code")
    )


def _reference_range(element: dict[str, Any]) -> str:
    ranges = element.get("referenceRange") or []
    if not ranges:
        return ""
    first = ranges[0]
    if first.get("text"):
        return str(first["text"])[:200]
    low, high = (first.get(k, {}).get("value") for k in ("low", "high"))
    if low is None and high is None:
        return ""
    if high is None:
        return f">{low}"
    if low is None:
        return f"<{high}"
    return f"{low}-{high}"[:200]
