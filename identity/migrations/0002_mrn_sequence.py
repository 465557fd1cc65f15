from django.db import migrations


class Migration(migrations.Migration):
    """Medical record numbers are minted from one sequence (unique across tenants, so a number
    never means two people anywhere)."""

    dependencies = [("identity", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS identity_mrn_seq START 1000",
            "DROP SEQUENCE IF EXISTS identity_mrn_seq",
        ),
    ]
