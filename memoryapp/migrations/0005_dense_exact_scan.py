"""Storage and indexes for the exact dense scan of one owner's rows (`retrieval.search.dense`).

Owners of up to EXACT_SCAN_MAX_ROWS rows get an exact scan of their own vectors.

- Their rows are scattered over the table (everyone's rows arrive interleaved), so reading
  the vectors from the heap costs a random page per row. A covering B-tree per embedding
  column holds every owner's vectors side by side under the owner's id, with the columns
  the query filters on, so the scan is an index-only scan of adjacent pages. Postgres keeps
  it in order on every insert (no CLUSTER, which would lock the live table). Created with
  plain SQL: the models' state does not need to know about them.
- Embeddings stay in the row (STORAGE MAIN) instead of TOAST. pgvector's type defaults to
  EXTERNAL, and a 384-d vector (1.5 kB) takes a row past the 2 kB TOAST threshold, so
  wherever the heap is read (an owner who holds most of a table, which the planner scans
  sequentially; the rows an HNSW scan returns) each vector cost a TOAST index lookup and
  another page. With MAIN the row's long text columns go to TOAST first instead. Rows
  written before this migration keep their TOAST pointers until they are rewritten.
"""

from __future__ import annotations

from django.db import migrations

EMBEDDING_COLUMNS = (
    ("memoryapp_segment", "key_embedding"),
    ("memoryapp_segment", "summary_embedding"),
    ("memoryapp_fact", "embedding"),
    ("memoryapp_message", "embedding"),
)

# (index, table, included columns, condition): together they cover everything `dense`
# reads and filters on in that table (see the Table constants in `retrieval.search`).
EXACT_SCAN_INDEXES = (
    (
        "segment_key_owner_exact",
        "memoryapp_segment",
        "id, status, key_embedding",
        "key_embedding IS NOT NULL",
    ),
    (
        "segment_summary_owner_exact",
        "memoryapp_segment",
        "id, status, summary_embedding",
        "summary_embedding IS NOT NULL",
    ),
    (
        "fact_embedding_owner_exact",
        "memoryapp_fact",
        "id, status, embedding",
        "embedding IS NOT NULL",
    ),
    (
        "message_embedding_owner_exact",
        "memoryapp_message",
        "id, status, embedding",
        "embedding IS NOT NULL AND content <> ''",
    ),
)


def _set_storage(storage: str) -> list[str]:
    return [
        f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE {storage}"
        for table, column in EMBEDDING_COLUMNS
    ]


class Migration(migrations.Migration):
    dependencies = [("memoryapp", "0004_citations")]

    operations = [
        migrations.RunSQL(sql=_set_storage("MAIN"), reverse_sql=_set_storage("EXTERNAL")),
        *(
            migrations.RunSQL(
                sql=f"CREATE INDEX {name} ON {table} (owner_id) INCLUDE ({columns}) "
                f"WHERE {condition}",
                reverse_sql=f"DROP INDEX {name}",
            )
            for name, table, columns, condition in EXACT_SCAN_INDEXES
        ),
    ]
