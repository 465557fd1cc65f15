from django.db import migrations


class Migration(migrations.Migration):
    """Placer order numbers (ORC-2/OBR-2) come from one sequence: never reused."""

    dependencies = [("orders", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS orders_placer_seq START 100000",
            "DROP SEQUENCE IF EXISTS orders_placer_seq",
        ),
    ]
