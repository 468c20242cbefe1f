"""Message.note: what the person should know about how an answer was made (its question was
too long for the model, which read only its end)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("memoryapp", "0011_drop_pg_trgm"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="note",
            field=models.TextField(blank=True),
        ),
    ]
