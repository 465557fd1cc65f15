"""Built-in content: the global code systems, and the HL7 v2-to-FHIR concept maps for tables
0078, 0085, 0123 and 0203 (see terminology/content/SOURCES.md), published."""

from datetime import date

from django.db import migrations
from django.utils import timezone

from terminology.content import v2tofhir


def load(apps, schema_editor):
    CodeSystem = apps.get_model("terminology", "CodeSystem")
    Concept = apps.get_model("terminology", "Concept")
    ConceptMap = apps.get_model("terminology", "ConceptMap")
    ConceptMapVersion = apps.get_model("terminology", "ConceptMapVersion")
    ConceptMapEntry = apps.get_model("terminology", "ConceptMapEntry")

    systems = {}
    for uri, name, v2_identifier in v2tofhir.BUILTIN_SYSTEMS:
        systems[uri], _ = CodeSystem.objects.get_or_create(
            tenant=None, uri=uri, defaults={"name": name, "v2_identifier": v2_identifier}
        )
    now = timezone.now()
    for table, (_filename, name, title) in v2tofhir.BUILTIN_MAPS.items():
        source = v2tofhir.V2.format(table)
        Concept.objects.bulk_create(
            [Concept(code_system=systems[source], code=code, display=text[:500]) for code, text in v2tofhir.concepts(table)],
            ignore_conflicts=True,
        )
        rows, digest = v2tofhir.read(table)
        concept_map, _ = ConceptMap.objects.get_or_create(
            tenant=None, name=name, defaults={"url": f"urn:clinic:conceptmap:{name}", "title": title}
        )
        version, created = ConceptMapVersion.objects.get_or_create(
            concept_map=concept_map,
            label=v2tofhir.BUILTIN_VERSION,
            defaults={"source_sha256": digest, "published_at": now},
        )
        if created:
            ConceptMapEntry.objects.bulk_create(
                [
                    ConceptMapEntry(
                        version=version,
                        source_system=source,
                        source_code=row.code,
                        source_display=row.text[:500],
                        target_system=row.target_system,
                        target_code=row.target_code,
                        target_display=row.target_display[:500],
                        equivalence="equivalent",
                        valid_from=date(1900, 1, 1),
                    )
                    for row in rows
                ]
            )


class Migration(migrations.Migration):
    dependencies = [("terminology", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
