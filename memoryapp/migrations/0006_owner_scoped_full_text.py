"""Full-text indexes scoped to the owner: GIN on (owner_id, search_vector), with btree_gin.

Every full-text query filters by owner. A GIN index on the tsvector alone returns every
user's rows that contain a word, and the owner's share is then picked out of the heap, one
page visit per row: at a million segments a common word costs tens of thousands of visits
for an owner who holds a few thousand of them. With the owner's id in the index, the bitmap
holds the owner's matching rows only, so the work per query follows the owner's memory, not
the table's. The owner-less indexes go: no query uses them.

The indexes are built and dropped concurrently (outside a transaction), so a deployment
with a large history keeps taking messages while this migration runs.
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.operations import (
    AddIndexConcurrently,
    BtreeGinExtension,
    RemoveIndexConcurrently,
)
from django.db import migrations

# (model, index replaced, its replacement)
INDEXES = (
    ("segment", "memoryapp_s_search__96bf2f_gin", "segment_owner_search"),
    ("message", "memoryapp_m_search__dbc610_gin", "message_owner_search"),
    ("fact", "memoryapp_f_search__7cdb43_gin", "fact_owner_search"),
)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("memoryapp", "0005_dense_exact_scan")]

    operations = [
        BtreeGinExtension(),
        *(
            operation
            for model, old, new in INDEXES
            for operation in (  # the new index first: queries are never without one
                AddIndexConcurrently(
                    model_name=model, index=GinIndex(fields=["owner", "search_vector"], name=new)
                ),
                RemoveIndexConcurrently(model_name=model, name=old),
            )
        ),
    ]
