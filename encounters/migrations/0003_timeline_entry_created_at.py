import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("encounters", "0002_visit_number_sequence")]

    operations = [
        migrations.AddField(
            model_name="timelineentry",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
    ]
