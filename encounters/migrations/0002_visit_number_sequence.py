from django.db import migrations


class Migration(migrations.Migration):
    """Visit numbers (PV1-19) come from one sequence: unique everywhere, never reused."""

    dependencies = [("encounters", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS encounters_visit_seq START 100000",
            "DROP SEQUENCE IF EXISTS encounters_visit_seq",
        ),
    ]
