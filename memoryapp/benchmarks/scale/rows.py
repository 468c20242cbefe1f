"""The segment rows the benchmark COPYs in, in the binary form COPY takes.

Every unit is a closed, consolidated segment of one of its owner's conversations, with
filler text from the pool and embeddings from `vectors.py`, already in pgvector's binary
format so that COPY sends them as they are.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

from memoryapp.benchmarks.scale.texts import TextPool
from memoryapp.benchmarks.scale.vectors import Matrix, OwnerTopics

EMBEDDING_MODEL = "benchmark-synthetic-384"
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
TIME_SPAN_SECONDS = 2 * 365 * 24 * 3600
# The columns COPY fills and their types; the other columns are nullable or generated.
SEGMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("owner_id", "int4"),
    ("conversation_id", "uuid"),
    ("status", "varchar"),
    ("first_sequence", "int4"),
    ("last_sequence", "int4"),
    ("message_count", "int4"),
    ("start_at", "timestamptz"),
    ("end_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("consolidated_at", "timestamptz"),
    ("title", "varchar"),
    ("summary", "text"),
    ("retrieval_key", "text"),
    ("keywords", "varchar[]"),
    ("summary_source", "varchar"),
    ("key_embedding", "vector"),
    ("summary_embedding", "vector"),
    ("embedding_model", "varchar"),
    ("job_status", "varchar"),
    ("attempts", "int2"),
    ("last_error", "text"),
    ("raw_output", "text"),
    ("llm_calls", "int4"),
    ("prompt_tokens", "int4"),
    ("completion_tokens", "int4"),
)


class VectorBytes(bytes):
    """A vector already in pgvector's binary wire format."""


class _VectorBytesDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


def register_vector_bytes(conn: psycopg.Connection[Any]) -> None:
    """Let COPY write `VectorBytes` into vector columns as they are."""
    info = psycopg.types.TypeInfo.fetch(conn, "vector")
    if info is None:
        raise psycopg.ProgrammingError("the vector extension is not installed")
    info.register(conn)  # COPY's set_types finds the type by name
    dumper = type("VectorBytesDumper", (_VectorBytesDumper,), {"oid": info.oid})
    conn.adapters.register_dumper(VectorBytes, dumper)


def vector_bytes(vectors: Matrix) -> list[VectorBytes]:
    """Rows of `vectors` in pgvector's binary format: dimensions, a zero, big-endian floats."""
    header = np.array([vectors.shape[1], 0], dtype=">u2").tobytes()
    big_endian = vectors.astype(">f4")
    return [VectorBytes(header + row.tobytes()) for row in big_endian]


@dataclass
class Owner:
    """A benchmark user and what the generator needs to make its units and queries."""

    user_id: int
    rows: int
    topics: OwnerTopics
    conversations: list[uuid.UUID] = field(default_factory=list)


def row_plan(
    owners: Sequence[Owner], rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Matrix]:
    """Per row, in load order: its owner (index into `owners`) and its centroid (index into
    the returned matrix of all the owners' topic centroids)."""
    offsets = np.cumsum([0] + [len(owner.topics.weights) for owner in owners])
    owner_of_row = np.repeat(np.arange(len(owners)), [owner.rows for owner in owners])
    centroid_of_row = np.concatenate(
        [offsets[i] + owner.topics.pick(rng, owner.rows) for i, owner in enumerate(owners)]
    )
    order = rng.permutation(len(owner_of_row))
    centroids = np.concatenate([owner.topics.centroids for owner in owners])
    return owner_of_row[order], centroid_of_row[order], centroids


def segment_rows(
    owners: Sequence[Owner],
    owner_of_row: npt.NDArray[np.int64],
    keys: Matrix,
    summaries: Matrix,
    pool: TextPool,
    rng: np.random.Generator,
) -> Iterator[tuple[Any, ...]]:
    """COPY rows for one chunk, in the order of SEGMENT_COLUMNS."""
    count = len(owner_of_row)
    starts = rng.integers(0, TIME_SPAN_SECONDS, count)
    messages = rng.integers(4, 41, count)
    texts = rng.integers(0, len(pool.keys), (count, 4))
    key_bytes, summary_bytes = vector_bytes(keys), vector_bytes(summaries)
    for i in range(count):
        owner = owners[owner_of_row[i]]
        start = EPOCH + timedelta(seconds=int(starts[i]))
        end = start + timedelta(minutes=int(messages[i]))
        first = int(rng.integers(0, 10_000))
        title, summary, key, keywords = texts[i]
        yield (
            uuid.UUID(bytes=rng.bytes(16), version=4),
            owner.user_id,
            owner.conversations[int(starts[i]) % len(owner.conversations)],
            "closed",
            first,
            first + int(messages[i]) - 1,
            int(messages[i]),
            start,
            end,
            end,
            start,
            end,
            pool.titles[title],
            pool.summaries[summary],
            pool.keys[key],
            pool.keywords[keywords],
            "extractive",
            key_bytes[i],
            summary_bytes[i],
            EMBEDDING_MODEL,
            "done",
            1,
            "",
            "",
            0,
            0,
            0,
        )
