"""Memory in the person's hands (issue 14): incognito conversations and paused memory
(`Message.private`), external ids of imported conversations, facts the person edited, the
review inbox (`FactProposal`), import jobs, and the new changeset sources.

The new columns have database defaults too, so rows written with plain SQL (the benchmarks'
loaders) need not name them.

The covering index of the exact dense scan of messages (migrations 0005, 0008) takes the
retrieval's new condition, `NOT private`, so that scan stays index-only."""

import uuid

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
import pgvector.django.vector
from django.conf import settings
from django.db import migrations, models

MESSAGE_EXACT_INDEX = "message_memory_owner_exact"


class Migration(migrations.Migration):
    dependencies = [
        ("memoryapp", "0012_message_note"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="FactProposal",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[("add", "Add"), ("merge", "Merge"), ("supersede", "Supersede")],
                        max_length=16,
                    ),
                ),
                (
                    "why",
                    models.CharField(
                        choices=[("unsure", "Unsure"), ("user_edited", "User Edited")],
                        max_length=16,
                    ),
                ),
                ("text", models.TextField()),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("identity", "Identity"),
                            ("location", "Location"),
                            ("work", "Work"),
                            ("relationship", "Relationship"),
                            ("preference", "Preference"),
                            ("possession", "Possession"),
                            ("health", "Health"),
                            ("event", "Event"),
                            ("plan", "Plan"),
                            ("other", "Other"),
                        ],
                        default="other",
                        max_length=16,
                    ),
                ),
                ("subject", models.CharField(default="user", max_length=200)),
                ("confidence", models.FloatField(default=0.5)),
                ("valid_from", models.DateTimeField(blank=True, null=True)),
                ("said_at", models.DateTimeField()),
                ("merged_text", models.TextField(blank=True)),
                (
                    "source_message_ids",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.UUIDField(), default=list, size=None
                    ),
                ),
                (
                    "embedding",
                    pgvector.django.vector.VectorField(blank=True, dimensions=384, null=True),
                ),
                ("reason", models.TextField(blank=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("accepted", "Accepted"),
                            ("rejected", "Rejected"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="ImportJob",
            fields=[
                (
                    "job_status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("retry", "Retry"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("last_error", models.TextField(blank=True)),
                ("raw_output", models.TextField(blank=True)),
                ("in_flight_since", models.DateTimeField(blank=True, null=True)),
                ("claim", models.UUIDField(blank=True, null=True)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("llm_calls", models.PositiveIntegerField(default=0)),
                ("prompt_tokens", models.PositiveIntegerField(default=0)),
                ("completion_tokens", models.PositiveIntegerField(default=0)),
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "format",
                    models.CharField(
                        choices=[
                            ("memoryapp", "memoryapp export"),
                            ("chatgpt", "ChatGPT data export"),
                        ],
                        max_length=16,
                    ),
                ),
                ("filename", models.CharField(max_length=255)),
                ("upload_path", models.CharField(blank=True, max_length=500)),
                ("size", models.PositiveBigIntegerField(default=0)),
                ("sha256", models.CharField(max_length=64)),
                ("total", models.PositiveIntegerField(default=0)),
                ("done", models.PositiveIntegerField(default=0)),
                ("result", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.AddField(
            model_name="conversation",
            name="external_id",
            field=models.CharField(blank=True, db_default="", max_length=100),
        ),
        migrations.AddField(
            model_name="conversation",
            name="incognito",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name="fact",
            name="user_edited_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="membersettings",
            name="memory_paused",
            field=models.BooleanField(db_default=False, default=False, verbose_name="pause memory"),
        ),
        migrations.AddField(
            model_name="message",
            name="private",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AlterField(
            model_name="memorychangeset",
            name="source",
            field=models.CharField(
                choices=[
                    ("consolidation", "Consolidation"),
                    ("sleep", "Sleep"),
                    ("user", "User"),
                    ("review", "Review"),
                    ("forget", "Forget"),
                    ("import", "Import"),
                    ("undo", "Undo"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="conversation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("external_id", ""), _negated=True),
                fields=("owner", "external_id"),
                name="conversation_external_id_unique",
            ),
        ),
        migrations.AddField(
            model_name="factproposal",
            name="changeset",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="memoryapp.memorychangeset",
            ),
        ),
        migrations.AddField(
            model_name="factproposal",
            name="owner",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="fact_proposals",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="factproposal",
            name="segment",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="proposals",
                to="memoryapp.segment",
            ),
        ),
        migrations.AddField(
            model_name="factproposal",
            name="target",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="proposals",
                to="memoryapp.fact",
            ),
        ),
        migrations.AddField(
            model_name="importjob",
            name="owner",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="import_jobs",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddIndex(
            model_name="factproposal",
            index=models.Index(
                fields=["owner", "status", "-created_at"], name="memoryapp_f_owner_i_805235_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="factproposal",
            constraint=models.CheckConstraint(
                condition=models.Q(("action", "add"), ("target__isnull", False), _connector="OR"),
                name="fact_proposal_change_has_target",
            ),
        ),
        migrations.AddConstraint(
            model_name="factproposal",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status", "pending"), ("decided_at__isnull", False), _connector="OR"
                ),
                name="fact_proposal_decided_has_time",
            ),
        ),
        migrations.AddIndex(
            model_name="importjob",
            index=models.Index(
                fields=["owner", "-created_at"], name="memoryapp_i_owner_i_2fc2b4_idx"
            ),
        ),
        migrations.RunSQL(
            sql=[
                f"DROP INDEX {MESSAGE_EXACT_INDEX}",
                f"CREATE INDEX {MESSAGE_EXACT_INDEX} ON memoryapp_message (owner_id) "
                "INCLUDE (id, embedding) WHERE embedding IS NOT NULL AND by_person "
                "AND NOT private AND status IN ('done', 'stopped') AND content <> ''",
            ],
            reverse_sql=[
                f"DROP INDEX {MESSAGE_EXACT_INDEX}",
                f"CREATE INDEX {MESSAGE_EXACT_INDEX} ON memoryapp_message (owner_id) "
                "INCLUDE (id, embedding) WHERE embedding IS NOT NULL AND by_person "
                "AND status IN ('done', 'stopped') AND content <> ''",
            ],
        ),
    ]
