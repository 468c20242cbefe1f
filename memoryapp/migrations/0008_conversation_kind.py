"""`Conversation.kind`: chats with the assistant (only the user's turns are memory) and
imported transcripts of two people (both speakers' turns are memory); `Message.finish_reason`:
whether an answer ended by itself or was cut at the token cap.

Conversations imported before this migration whose answers carry a speaker's name (not
"assistant") are transcripts of two people (the LoCoMo importer gives both speakers their
names; the chat and LongMemEval's importer call the assistant "assistant")."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("memoryapp", "0007_passages"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="kind",
            field=models.CharField(
                choices=[("chat", "Chat"), ("transcript", "Transcript")],
                default="chat",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="finish_reason",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.RunSQL(
            """
            UPDATE memoryapp_conversation c SET kind = 'transcript'
            WHERE EXISTS (
                SELECT 1 FROM memoryapp_message m
                WHERE m.conversation_id = c.id AND m.role = 'assistant'
                  AND m.speaker NOT IN ('', 'assistant')
            )
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
