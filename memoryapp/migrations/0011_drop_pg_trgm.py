"""pg_trgm goes: migration 0001 enabled it for fuzzy text matching, but nothing uses it
(full-text search and embeddings find text), and an unused extension is one more thing an
external Postgres must provide.

Dropped only by its owner: in a database an earlier version made as the Postgres superuser
(before the app had a role of its own) the extension is the superuser's, and stays, unused."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("memoryapp", "0010_fact_successor_restrict")]

    operations = [
        migrations.RunSQL(
            """
            DO $$
            BEGIN
                IF EXISTS (
                    SELECT 1 FROM pg_extension
                    WHERE extname = 'pg_trgm' AND pg_has_role(extowner, 'USAGE')
                ) THEN
                    DROP EXTENSION pg_trgm;
                END IF;
            END
            $$
            """,
            reverse_sql="CREATE EXTENSION IF NOT EXISTS pg_trgm",
        )
    ]
