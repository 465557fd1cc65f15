from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("encounters", "0003_timeline_entry_created_at")]

    operations = [
        migrations.AddField(
            model_name="timelineentry", name="seq", field=models.PositiveIntegerField(default=0), preserve_default=False
        ),
        migrations.RunSQL(
            """
            UPDATE encounters_timelineentry t SET seq = n.seq
              FROM (SELECT id, row_number() OVER (PARTITION BY encounter_id ORDER BY id) AS seq
                      FROM encounters_timelineentry) n
             WHERE n.id = t.id
            """,
            migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name="timelineentry",
            constraint=models.UniqueConstraint(fields=("encounter", "seq"), name="timeline_entry_seq_unique"),
        ),
    ]
