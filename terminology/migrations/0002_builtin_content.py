"""Built-in content: the global code systems, and the HL7 v2-to-FHIR concept maps for tables
0078, 0085, 0123 and 0203 (see terminology/content/SOURCES.md), published."""

from django.db import migrations
from django.utils import timezone

from terminology.content import v2tofhir


def load(apps, schema_editor):
    v2tofhir.load(lambda name: apps.get_model("terminology", name), published_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [("terminology", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
