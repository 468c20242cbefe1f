from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector for embeddings (HNSW indexes), pg_trgm for fuzzy text matching."""

    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [VectorExtension(), TrigramExtension()]
