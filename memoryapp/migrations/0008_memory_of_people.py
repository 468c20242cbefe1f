"""Memory is made of what people said.

- `Message.by_person`: said by a person (the user, or either speaker of an imported
  transcript of two people) rather than written by the assistant. Existing rows: the user's
  messages, and answers that carry a speaker's name instead of "assistant" (the LoCoMo
  importer names both speakers; the chat and the LongMemEval importer call the assistant
  "assistant"). Those answers had no passages (passages were the user's only): their
  passage stamp is cleared so the sleep-time upkeep makes them.
- `Segment.text_version`: how a segment's title, summary, key and keywords were built;
  segments built before they were made of people's words start at 1 and are rebuilt by
  the upkeep (`segments_rebuild_outdated`).
- The covering index of the exact dense scan of messages (migration 0005) holds only what
  retrieval searches now, people's remembered turns, so the scan stays index-only.
- `Message.finish_reason`: "length" when an answer was cut at the token cap.
"""

from django.db import migrations, models

OLD_INDEX = "message_embedding_owner_exact"
NEW_INDEX = "message_memory_owner_exact"


class Migration(migrations.Migration):
    dependencies = [
        ("memoryapp", "0007_passages"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="by_person",
            field=models.BooleanField(default=True),
        ),
        migrations.RunSQL(
            """
            UPDATE memoryapp_message SET by_person = false
            WHERE role = 'assistant' AND speaker IN ('', 'assistant');
            UPDATE memoryapp_message SET passages_model = ''
            WHERE role = 'assistant' AND by_person;
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.CheckConstraint(
                condition=models.Q(("role", "assistant"), ("by_person", True), _connector="OR"),
                name="message_user_messages_are_a_persons",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="finish_reason",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name="segment",
            name="text_version",
            field=models.PositiveSmallIntegerField(db_default=1),
        ),
        migrations.RunSQL(
            sql=[
                f"CREATE INDEX {NEW_INDEX} ON memoryapp_message (owner_id) "
                "INCLUDE (id, embedding) WHERE embedding IS NOT NULL AND by_person "
                "AND status IN ('done', 'stopped') AND content <> ''",
                f"DROP INDEX {OLD_INDEX}",
            ],
            reverse_sql=[
                f"CREATE INDEX {OLD_INDEX} ON memoryapp_message (owner_id) "
                "INCLUDE (id, status, embedding) WHERE embedding IS NOT NULL AND content <> ''",
                f"DROP INDEX {NEW_INDEX}",
            ],
        ),
    ]
