from django.apps import AppConfig

MRN_PATTERN = r"^[A-Za-z0-9-]{1,20}$"

# What a tenant gets unless its policy template or overrides say otherwise. ``{slug}``/``{SLUG}``
# become the tenant's slug in lower/upper case.
DEFAULT_IDENTIFIER_SYSTEMS = [
    {
        "uri": "urn:clinic:{slug}:mrn",
        "name": "Medical record number",
        "assigning_authority": "{SLUG}",
        "validator": "pattern",
        "pattern": MRN_PATTERN,
        "authoritative": True,
        "mints": True,
    },
    {
        "uri": "https://fhir.nhs.uk/Id/nhs-number",
        "name": "NHS number",
        "assigning_authority": "NHS",
        "oid": "2.16.840.1.113883.2.1.4.1",
        "validator": "nhs-number",
        "pattern": "",
        "authoritative": True,
    },
]

DEFAULT_MATCHING_THRESHOLDS = {"certain": 0.95, "probable": 0.8, "possible": 0.5}


class IdentityConfig(AppConfig):
    """Patients, identifier systems, idempotent registration, matching, merge and unmerge."""

    name = "identity"

    def ready(self) -> None:
        from clinic.facade import register_event_types, register_policy_section
        from identity.contracts import PUBLISHED_EVENTS

        register_event_types(*PUBLISHED_EVENTS)

        register_policy_section(
            "identifier_systems",
            defaults={"seed": DEFAULT_IDENTIFIER_SYSTEMS},
            description="Identifier systems a new tenant gets: {'seed': [system, ...]}.",
        )
        register_policy_section(
            "matching",
            defaults=dict(DEFAULT_MATCHING_THRESHOLDS),
            description="Scores from which a match is graded certain, probable or possible.",
        )
