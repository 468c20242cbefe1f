"""Timing retrieval on the loaded histories: `retrieve_units` end to end, each of its lists,
and the recall@10 of each dense list against an exact scan of the owner's rows.

A query is an owner, a real question (LongMemEval's development questions) and a synthetic
query vector near one of the owner's topics (`vectors.query_near`).

- End to end: `retrieve_units(owner=..., question=..., now=NOW, token_budget=
  settings.CHAT_MEMORY_TOKENS)`, the chat's call. It embeds the question itself with the
  real model, whose cost is part of a chat's retrieval; that time alone is measured
  separately (`embed_texts` of the question) and shown beside it. The stored vectors are
  synthetic, so the question's vector is near them only as far as the global topics are
  real texts' embeddings (`retrieval.py`): end to end is timed, not judged for recall.
- Per list: each list's call exactly as `retrieve_units` makes it (`list_calls`, the one
  place to adapt when search.py changes shape), with the synthetic query vector for the
  dense lists (so an owner's rows are near it, as a question's neighbours are) and the
  question for the full-text ones.
- Recall@10 of each dense list: its first 10 ids against the exact top 10 of the owner's
  rows under the same conditions (`EXACT_SQL`). Owners at or under EXACT_SCAN_MAX_ROWS rows
  in a table take the exact route there, so only the HNSW route can miss.

Every timed path runs once over all queries to warm the caches, then once timed; the exact
scans run last, apart, because one of a large owner would evict what the app's next query
needs, which the app's own traffic never does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection

from memoryapp.benchmarks.profiling import profiled
from memoryapp.benchmarks.scale.measure import load_average
from memoryapp.benchmarks.scale.message_rows import NOW, MessageOwner
from memoryapp.benchmarks.scale.vectors import query_near
from memoryapp.embeddings import embed_texts
from memoryapp.retrieval import retrieve_units, search
from memoryapp.retrieval.tuning import EXACT_SCAN_MAX_ROWS, TURN_LIST_LENGTH

TOP_K = 10
Write = Callable[[str], None]


@dataclass(frozen=True)
class DenseList:
    """How to find a dense list's exact top ids, and which owner count picks its route."""

    sql: str
    counted: str  # MessageOwner.counts key of the table the route is decided on


def _exact_sql(table: search.Table, column: str) -> str:
    return (
        f"SELECT id::text, ({column} <=> %(query)s::vector) + 0 AS distance "  # noqa: S608
        f"FROM {table.name} WHERE owner_id = %(owner)s AND {column} IS NOT NULL "
        f"AND {table.where} ORDER BY distance, id LIMIT %(limit)s"
    )


DENSE = {
    "turns dense": DenseList(_exact_sql(search.MESSAGES, "embedding"), "messages"),
    "passages": DenseList(
        f"SELECT message_id::text, min(embedding <=> %(query)s::vector) AS distance "  # noqa: S608
        f"FROM {search.PASSAGES} WHERE owner_id = %(owner)s "
        "GROUP BY message_id ORDER BY distance, message_id LIMIT %(limit)s",
        "passages",
    ),
    "segment keys": DenseList(_exact_sql(search.SEGMENTS, "key_embedding"), "segments"),
    "segment summaries": DenseList(_exact_sql(search.SEGMENTS, "summary_embedding"), "segments"),
    "facts dense": DenseList(_exact_sql(search.FACTS_CURRENT, "embedding"), "facts"),
}


def list_calls(owner_id: int, query: list[float], question: str) -> dict[str, Callable[[], Any]]:
    """Each list `retrieve_units` reads, called as it calls it (current facts: the questions
    are not about the past). Returns hits (`search.Hit`) when called."""
    me, none = owner_id, list[str]()
    return {
        "turns dense": lambda: search.dense(
            search.MESSAGES, "embedding", query=query, owner_id=me, exclude=none,
            limit=TURN_LIST_LENGTH,
        ),
        "passages": lambda: search.dense_passages(
            query=query, owner_id=me, exclude=none, limit=TURN_LIST_LENGTH
        ),
        "turns full text": lambda: search.lexical(
            search.MESSAGES, question=question, owner_id=me, exclude=none,
            limit=TURN_LIST_LENGTH,
        ),
        "segment keys": lambda: search.dense(
            search.SEGMENTS, "key_embedding", query=query, owner_id=me
        ),
        "segment summaries": lambda: search.dense(
            search.SEGMENTS, "summary_embedding", query=query, owner_id=me
        ),
        "segments full text": lambda: search.lexical(
            search.SEGMENTS, question=question, owner_id=me
        ),
        "facts dense": lambda: search.dense(
            search.FACTS_CURRENT, "embedding", query=query, owner_id=me
        ),
        "facts full text": lambda: search.lexical(
            search.FACTS_CURRENT, question=question, owner_id=me
        ),
    }  # fmt: skip


@dataclass(frozen=True)
class Query:
    owner: MessageOwner
    question: str
    vector: list[float]


@dataclass
class Outcome:
    """One query's milliseconds end to end, for the question's embedding alone and per
    list, and its recall@10 per dense list."""

    query: Query
    retrieve_ms: float = 0.0
    embed_ms: float = 0.0
    units: int = 0
    list_ms: dict[str, float] | None = None
    recall: dict[str, float] | None = None


def sample_queries(
    owners: Sequence[MessageOwner],
    per_class: int,
    questions: Sequence[str],
    rng: np.random.Generator,
) -> list[Query]:
    """`per_class` queries for each class: an owner of the class at random, a question at
    random, a vector near one of the owner's topics."""
    by_class: dict[str, list[MessageOwner]] = {}
    for owner in owners:
        by_class.setdefault(owner.label, []).append(owner)
    queries = []
    for members in by_class.values():
        for _ in range(per_class):
            owner = members[int(rng.integers(len(members)))]
            question = questions[int(rng.integers(len(questions)))]
            queries.append(Query(owner, question, query_near(owner.topics, rng)[0].tolist()))
    return queries


def _ms(begin: float) -> float:
    return (time.perf_counter() - begin) * 1000


def _retrieve(query: Query, user: User) -> tuple[float, int]:
    begin = time.perf_counter()
    units = retrieve_units(
        owner=user, question=query.question, now=NOW, token_budget=settings.CHAT_MEMORY_TOKENS
    )
    return _ms(begin), len(units)


def _embed(query: Query) -> float:
    begin = time.perf_counter()
    embed_texts([query.question])
    return _ms(begin)


def _lists(query: Query) -> tuple[dict[str, float], dict[str, list[str]]]:
    elapsed, found = {}, {}
    for name, call in list_calls(query.owner.user_id, query.vector, query.question).items():
        begin = time.perf_counter()
        hits = call()
        elapsed[name] = _ms(begin)
        found[name] = [hit.id for hit in hits[:TOP_K]]
    return elapsed, found


def _exact(query: Query, dense: DenseList) -> list[str]:
    vector = "[" + ",".join(f"{v:.6f}" for v in query.vector) + "]"  # as search sends it
    params: dict[str, str | int] = {"query": vector, "owner": query.owner.user_id, "limit": TOP_K}
    with connection.cursor() as cursor:
        cursor.execute(dense.sql, params)
        return [row[0] for row in cursor.fetchall()]


def recall(found: Sequence[str], truth: Sequence[str]) -> float:
    """Share of the true top ids that were found (1.0 when there is nothing to find)."""
    return len(set(found) & set(truth)) / len(truth) if truth else 1.0


def hnsw_route(owner: MessageOwner, name: str) -> bool:
    """Whether the owner's queries on a dense list take the HNSW route (search._owner_rows
    counts all the owner's rows of the table)."""
    return owner.counts.get(DENSE[name].counted, 0) > EXACT_SCAN_MAX_ROWS


def run_queries(queries: Sequence[Query], write: Write) -> list[Outcome]:
    """Warm up, time end to end, the embedding alone and the lists, then the exact scans."""
    users = {u.pk: u for u in User.objects.filter(pk__in={q.owner.user_id for q in queries})}
    outcomes = [Outcome(query) for query in queries]
    begin = time.monotonic()
    for query in queries:
        _retrieve(query, users[query.owner.user_id])
        _lists(query)
    write(f"  warmed up on {len(queries)} queries in {time.monotonic() - begin:.1f} s")
    begin = time.monotonic()
    for outcome in outcomes:
        outcome.retrieve_ms, outcome.units = _retrieve(
            outcome.query, users[outcome.query.owner.user_id]
        )
    write(f"  retrieve_units timed in {time.monotonic() - begin:.1f} s ({load_average()})")
    for outcome in outcomes:
        outcome.embed_ms = _embed(outcome.query)
    begin = time.monotonic()
    found = []
    for outcome in outcomes:
        outcome.list_ms, top = _lists(outcome.query)
        found.append(top)
    write(f"  lists timed in {time.monotonic() - begin:.1f} s ({load_average()})")
    begin = time.monotonic()
    for outcome, top in zip(outcomes, found, strict=True):
        outcome.recall = {
            name: recall(top[name], _exact(outcome.query, dense)) for name, dense in DENSE.items()
        }
    write(f"  exact scans in {time.monotonic() - begin:.1f} s ({load_average()})")
    return outcomes


def profile_retrieval(queries: Sequence[Query], path: Path, write: Write) -> None:
    """cProfile of `retrieve_units` over each owner class's queries (caches warm: they ran
    before), dumped to `<path>.<class>` with its top printed."""
    users = {u.pk: u for u in User.objects.filter(pk__in={q.owner.user_id for q in queries})}
    by_class: dict[str, list[Query]] = {}
    for query in queries:
        by_class.setdefault(query.owner.label, []).append(query)
    for label, members in by_class.items():
        what = f"retrieve_units for owners of {label} messages ({len(members)} queries)"
        with profiled(path.with_name(f"{path.name}.{label}"), what, write):
            for query in members:
                _retrieve(query, users[query.owner.user_id])
