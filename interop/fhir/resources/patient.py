"""Patient (http://hl7.org/fhir/R4/patient.html), with its identifiers, merge links and versions."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from clinic.rows import AnyOf, RowQuery, Where
from identity import facade as identity
from interop.fhir import params
from interop.fhir.errors import BadRequest
from interop.fhir.registry import NOTHING, Ctx, ResourceType, Row, Source, Term, register
from interop.fhir.resources.common import meta, ref, rows_by
from interop.fhir.values import compact, fhir_date

PATIENTS = Source(identity.read_rows, identity.count_rows, "patient")
IDENTIFIERS = Source(identity.read_rows, identity.count_rows, "patient_identifier")
REVISIONS = Source(identity.read_rows, identity.count_rows, "patient_revision")


def _name(use: str, family: str, given: list[str]) -> dict[str, Any]:
    return compact({"use": use, "family": family, "given": [g for g in given if g]})


def to_fhir(
    ctx: Ctx,
    rows: list[Row],
    identifiers: dict[Any, list[dict[str, Any]]] | None = None,
    replaced: dict[Any, list[Any]] | None = None,
) -> list[dict[str, Any]]:
    """Patients from rows of identity's patient view; a past version passes the identifiers it
    had and ``replaced={}`` (which records it had replaced is not kept)."""
    ids = [row["id"] for row in rows]
    if identifiers is None:
        identifiers = {}
        for i in rows_by(IDENTIFIERS, ctx, "patient", ids):
            identifiers.setdefault(i["patient"], []).append(
                {"system": i["system"], "value": i["value"], "use": i["use"]}
            )
    # The survivor of a merge links back to what it replaced (link type "replaces").
    if replaced is None:
        replaced = {}
        for r in rows_by(PATIENTS, ctx, "replaced_by", ids, fields=("id", "replaced_by")):
            replaced.setdefault(r["replaced_by"], []).append(r["id"])
    out = []
    for row in rows:
        key = row["id"] if isinstance(row["id"], UUID) else UUID(str(row["id"]))
        links = []
        if row.get("replaced_by"):
            links.append({"other": ref("Patient", row["replaced_by"]), "type": "replaced-by"})
        links += [
            {"other": ref("Patient", source), "type": "replaces"} for source in sorted(replaced.get(key, []), key=str)
        ]
        names = [_name("official", row["family"], list(row["given"] or []))]
        names += [
            _name(n.get("use") or "usual", n.get("family", ""), list(n.get("given") or []))
            for n in row["other_names"] or []
        ]
        out.append(
            compact(
                {
                    "resourceType": "Patient",
                    "id": str(row["id"]),
                    "meta": meta(row, version=row["version"]),
                    "identifier": [
                        compact(i) for i in sorted(identifiers.get(key, []), key=lambda i: (i["system"], i["value"]))
                    ],
                    "active": row["active"],
                    "name": [n for n in names if n],
                    "telecom": [
                        compact({k: t.get(k) for k in ("system", "value", "use")}) for t in row["telecom"] or []
                    ],
                    "gender": row["gender"],
                    "birthDate": fhir_date(row["birth_date"]),
                    "address": [compact(a) for a in row["address"] or [] if isinstance(a, dict)],
                    "link": links,
                }
            )
        )
    return out


def history(ctx: Ctx, row: Row) -> list[dict[str, Any]]:
    """Every version, oldest first: the kept ones (identity's revision trigger keeps each with
    its own updated_at and identifiers) then the row."""
    kept = REVISIONS.rows(
        RowQuery(tenant_id=ctx.tenant_id, where=(Where("patient", "eq", row["id"]),), order=("version", "id"))
    )
    versions = []
    for revision in kept:
        content = dict(revision["content"])
        snapshot = {**row, **{k: content.get(k, row.get(k)) for k in row}}
        snapshot["replaced_by"] = content.get("replaced_by_id")
        ids = {
            snapshot["id"] if isinstance(snapshot["id"], UUID) else UUID(str(snapshot["id"])): content.get(
                "identifiers", []
            )
        }
        versions.append(to_fhir(ctx, [snapshot], identifiers=ids, replaced={})[0])
    versions.append(to_fhir(ctx, [row])[0])
    return versions


def by_identifier(ctx: Ctx, modifier: str, value: str) -> Term:
    system, code = params.split_token(value)
    if not code:
        raise BadRequest("Search parameter 'identifier' needs a value.", expression=["identifier"])
    if system == "":
        return NOTHING  # ``|value`` asks for an identifier without a system; every one here has one
    where: list[Any] = [Where("value", "eq", code)]
    if system:
        where.append(Where("system", "eq", system))
    holders = IDENTIFIERS.rows(RowQuery(tenant_id=ctx.tenant_id, where=tuple(where), fields=("patient",), limit=1000))
    if not holders:
        return NOTHING
    return Where("id", "in", sorted({h["patient"] for h in holders}, key=str))


def by_active(ctx: Ctx, modifier: str, value: str) -> Term:
    _, code = params.split_token(value)
    if code not in ("true", "false"):
        raise BadRequest(f"'active' is true or false, not {code!r}.", expression=["active"])
    return Where("active", "eq", code == "true")


def _key(text: str) -> str:
    return identity.name_search_key(text)


def _names(fields: tuple[str, ...], name: str, doc: str) -> Any:
    def build(ctx: Ctx, modifier: str, value: str) -> Term:
        if modifier == "exact":  # exact: the name as recorded, case and accents included
            column = {"family_key": "family", "given_key": "given"}
            terms = [
                Where(column[f], "eq" if f == "family_key" else "contains", value if f == "family_key" else [value])
                for f in fields
            ]
            return AnyOf(tuple(terms))
        key = _key(value)
        if not key:
            return NOTHING
        # The keys are lower case already: plain LIKE 'key%' uses the pattern indexes.
        op = "contains" if modifier == "contains" else "startswith"
        return AnyOf(tuple(Where(f, op, key) for f in fields))

    return params.custom(
        name, "string", doc, build, modifiers=("exact", "contains"), missing=params.missing_when(*fields)
    )


register(
    ResourceType(
        name="Patient",
        source=PATIENTS,
        to_fhir=to_fhir,
        doc="A patient of the clinic. A merged-away record is inactive and links to its survivor (replaced-by).",
        params={
            **params.common("updated_at", UUID),
            "identifier": params.custom(
                "identifier",
                "token",
                "A patient identifier (system|value)",
                by_identifier,
                missing=params.missing_when("identifier_id", blank=False),
            ),
            "name": _names(
                ("family_key", "given_key"),
                "name",
                "Family or (first) given name, starts with, ignoring case and accents",
            ),
            "family": _names(("family_key",), "family", "Family name, starts with, ignoring case and accents"),
            "given": _names(("given_key",), "given", "First given name, starts with, ignoring case and accents"),
            "birthdate": params.date_param("birthdate", "birth_date", "Date of birth", as_date=True),
            "gender": params.token(
                "gender",
                "gender",
                "male | female | other | unknown",
                system="http://hl7.org/fhir/administrative-gender",
                values=("male", "female", "other", "unknown"),
            ),
            "active": params.custom(
                "active",
                "token",
                "Whether the record is active (true | false)",
                by_active,
                missing=params.always_present,
            ),
        },
        sorts={"_lastUpdated": "updated_at", "birthdate": "birth_date", "family": "family_key"},
        versioned=True,
        history=history,
        patient_field="id",
    )
)
