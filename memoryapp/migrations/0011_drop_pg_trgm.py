"""pg_trgm goes: migration 0001 enabled it for fuzzy text matching, but nothing uses it
(full-text search and embeddings find text), and an unused extension is one more thing an
external Postgres must provide."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("memoryapp", "0010_fact_successor_restrict")]

    operations = [
        migrations.RunSQL(
            "DROP EXTENSION IF EXISTS pg_trgm",
            reverse_sql="CREATE EXTENSION IF NOT EXISTS pg_trgm",
        )
    ]
