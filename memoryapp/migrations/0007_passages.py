"""Passages: each sentence of a user's message of several, embedded on its own
(`models.Passage`).

- `Message.passages_model` records which embedding model a message's passages were made
  with. Existing messages start empty, so the sleep-time upkeep (`embeddings_refresh`)
  makes their passages, a batch at a time, without re-embedding the messages themselves.
- A composite foreign key on (message, owner) keeps a passage's owner its message's.
- As for the other embedding columns (migration 0005): the vector stays in the row (STORAGE
  MAIN), and a covering B-tree `(owner_id) INCLUDE (message_id, embedding)` serves the
  exact scan of one owner's passages as an index-only scan.
"""

import django.db.models.deletion
import pgvector.django.indexes
import pgvector.django.vector
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("memoryapp", "0006_owner_scoped_full_text"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="passages_model",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.CreateModel(
            name="Passage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveSmallIntegerField()),
                ("text", models.TextField()),
                ("embedding", pgvector.django.vector.VectorField(dimensions=384)),
                (
                    "message",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="passages",
                        to="memoryapp.message",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="passages",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    pgvector.django.indexes.HnswIndex(
                        ef_construction=64,
                        fields=["embedding"],
                        m=16,
                        name="passage_embedding_hnsw",
                        opclasses=["vector_cosine_ops"],
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("message", "position"), name="passage_position")
                ],
            },
        ),
        migrations.RunSQL(
            sql="""
            ALTER TABLE memoryapp_passage ALTER COLUMN embedding SET STORAGE MAIN;
            ALTER TABLE memoryapp_passage
                ADD CONSTRAINT passage_message_same_owner
                FOREIGN KEY (message_id, owner_id) REFERENCES memoryapp_message (id, owner_id)
                ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
            CREATE INDEX passage_embedding_owner_exact ON memoryapp_passage (owner_id)
                INCLUDE (message_id, embedding);
            """,
            reverse_sql="""
            DROP INDEX passage_embedding_owner_exact;
            ALTER TABLE memoryapp_passage DROP CONSTRAINT passage_message_same_owner;
            """,
        ),
    ]
