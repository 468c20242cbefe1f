"""A fact's successor is RESTRICT instead of PROTECT: it cannot be deleted on its own while
an older fact points at it, but both go when their owner is deleted."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("memoryapp", "0009_member_privacy"),
    ]

    operations = [
        migrations.AlterField(
            model_name="fact",
            name="superseded_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="supersedes",
                to="memoryapp.fact",
            ),
        ),
    ]
