"""Dense search: both routes (exact scan, HNSW) find the owner's true nearest rows, and only
the owner's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from memoryapp.embeddings import EMBEDDING_DIM
from memoryapp.models import Fact, Message, Passage, Segment
from memoryapp.retrieval import search
from tests import factories

pytestmark = pytest.mark.django_db

Matrix = npt.NDArray[np.float32]
TOP_K = 10
ROUTES = ("exact", "hnsw")


def unit_vectors(rng: np.random.Generator, rows: int) -> Matrix:
    vectors = rng.standard_normal((rows, EMBEDDING_DIM)).astype(np.float32)
    normalised: Matrix = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


def facts(owner: User, vectors: Matrix) -> list[str]:
    """Active facts of `owner` with the given embeddings; their ids in the same order."""
    made = Fact.objects.bulk_create(
        Fact(owner=owner, text=f"fact {i}", embedding=vector.tolist())
        for i, vector in enumerate(vectors)
    )
    return [str(fact.pk) for fact in made]


def nearest(ids: list[str], vectors: Matrix, query: Matrix, k: int = TOP_K) -> list[str]:
    order = np.argsort(-(vectors @ query), kind="stable")
    return [ids[i] for i in order[:k]]


@pytest.fixture(params=ROUTES)
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which route `dense` takes for the owners of these tests (a few dozen rows each)."""
    name: str = request.param
    monkeypatch.setattr(search, "EXACT_SCAN_MAX_ROWS", 10_000 if name == "exact" else 5)
    if name == "hnsw":
        # A table this small is cheaper to sort than to search through the HNSW index; without
        # a sort the planner has to use the index (the test's transaction undoes the SET).
        with connection.cursor() as cursor:
            cursor.execute("SET enable_sort = off")
    return name


def plan_of(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def dense_facts(
    owner: User, query: Matrix, *, limit: int = TOP_K, exclude: Sequence[str] = ()
) -> list[search.Hit]:
    return search.dense(
        search.FACTS_CURRENT,
        "embedding",
        owner_id=owner.pk,
        query=query.tolist(),
        limit=limit,
        exclude=exclude,
    )


def test_each_route_returns_the_owners_true_nearest_rows(route: str) -> None:
    rng = np.random.default_rng(1)
    alice = factories.user("alice")
    vectors = unit_vectors(rng, 60)
    ids = facts(alice, vectors)
    query = unit_vectors(rng, 1)[0]

    with CaptureQueriesContext(connection) as queries:
        hits = dense_facts(alice, query)

    assert [hit.id for hit in hits] == nearest(ids, vectors, query)
    similarities = np.sort(vectors @ query)[::-1][:TOP_K]
    assert [hit.similarity for hit in hits] == pytest.approx(similarities.tolist(), abs=1e-5)
    assert all(hit.kind == "fact" for hit in hits)
    (sql,) = [q["sql"] for q in queries.captured_queries if "ORDER BY distance" in q["sql"]]
    assert ("Index Scan using fact_embedding_hnsw" in plan_of(sql)) == (route == "hnsw")


def test_another_owners_closer_rows_never_appear(route: str) -> None:
    rng = np.random.default_rng(2)
    alice, bob = factories.user("alice"), factories.user("bob")
    query = unit_vectors(rng, 1)[0]
    alices = unit_vectors(rng, 40)
    alice_ids = facts(alice, alices)
    # Bob's rows all lie closer to the query than any of Alice's: a filtered HNSW scan
    # meets them first and must keep going until it has found enough of Alice's.
    facts(bob, (0.9 * query + 0.1 * unit_vectors(rng, 300)).astype(np.float32))

    hits = dense_facts(alice, query)

    assert [hit.id for hit in hits] == nearest(alice_ids, alices, query)


def test_excluded_rows_are_skipped(route: str) -> None:
    rng = np.random.default_rng(3)
    alice = factories.user("alice")
    vectors = unit_vectors(rng, 30)
    ids = facts(alice, vectors)
    query = unit_vectors(rng, 1)[0]
    best_three = nearest(ids, vectors, query, k=3)

    hits = dense_facts(alice, query, limit=5, exclude=best_three)

    assert [hit.id for hit in hits] == nearest(ids, vectors, query, k=8)[3:]


def test_a_route_is_chosen_once_per_owner_and_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting the owner's rows picks the route; later queries reuse the choice (one count
    per table and owner), and each owner and table gets its own."""
    rng = np.random.default_rng(4)
    alice, bob = factories.user("alice"), factories.user("bob")
    facts(alice, unit_vectors(rng, 6))
    facts(bob, unit_vectors(rng, 2))
    monkeypatch.setattr(search, "EXACT_SCAN_MAX_ROWS", 4)
    query = unit_vectors(rng, 1)[0]

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            dense_facts(alice, query)
            dense_facts(bob, query)
    counts = [q["sql"] for q in queries.captured_queries if "owner_rows" in q["sql"]]

    assert len(counts) == 2
    assert not search.exact_route(search.FACTS_CURRENT.name, alice.pk)
    assert search.exact_route(search.FACTS_CURRENT.name, bob.pk)


def turns_with_passages(owner: User, vectors: Matrix, per_turn: int = 3) -> list[str]:
    """Turns of `owner`, each with `per_turn` passages of the given embeddings in order; the
    turn id of each passage."""
    chat = factories.conversation(owner)
    turns = [
        factories.message(chat, f"turn {i}", embedding=vectors[i * per_turn].tolist())
        for i in range(len(vectors) // per_turn)
    ]
    Passage.objects.bulk_create(
        Passage(
            message=turns[i // per_turn],
            owner=owner,
            position=i % per_turn,
            text=f"sentence {i}",
            embedding=vector.tolist(),
        )
        for i, vector in enumerate(vectors[: len(turns) * per_turn])
    )
    return [str(turns[i // per_turn].pk) for i in range(len(turns) * per_turn)]


def best_passage(turn_of: list[str], vectors: Matrix, query: Matrix) -> dict[str, float]:
    """Each turn's best passage similarity to `query`."""
    best: dict[str, float] = {}
    for turn, similarity in zip(turn_of, (vectors @ query).tolist(), strict=True):
        best[turn] = max(similarity, best.get(turn, -2.0))
    return best


def nearest_turns(turn_of: list[str], vectors: Matrix, query: Matrix, k: int = TOP_K) -> list[str]:
    best = best_passage(turn_of, vectors, query)
    return sorted(best, key=lambda turn: (-best[turn], turn))[:k]


def test_turns_are_ranked_by_their_best_passage(route: str) -> None:
    rng = np.random.default_rng(5)
    alice = factories.user("alice")
    vectors = unit_vectors(rng, 90)
    turn_of = turns_with_passages(alice, vectors)
    query = unit_vectors(rng, 1)[0]

    with CaptureQueriesContext(connection) as queries:
        hits = search.dense_passages(owner_id=alice.pk, query=query.tolist(), limit=TOP_K)

    expected = nearest_turns(turn_of, vectors, query)
    assert [hit.id for hit in hits] == expected
    assert all(hit.kind == "message" for hit in hits)
    best = best_passage(turn_of, vectors, query)
    assert [hit.similarity for hit in hits] == pytest.approx([best[t] for t in expected], abs=1e-5)
    (sql,) = [q["sql"] for q in queries.captured_queries if "ORDER BY distance" in q["sql"]]
    assert ("Index Scan using passage_embedding_hnsw" in plan_of(sql)) == (route == "hnsw")


def test_a_turn_with_many_near_passages_does_not_crowd_out_the_others(route: str) -> None:
    """The HNSW route reads a few passages per turn wanted; when one turn holds all of them,
    it reads more until it has enough turns."""
    rng = np.random.default_rng(9)
    alice = factories.user("alice")
    query = unit_vectors(rng, 1)[0]
    chatty = (0.9 * query + 0.1 * unit_vectors(rng, 40)).astype(np.float32)
    others = unit_vectors(rng, 30)
    vectors = np.concatenate([chatty, others])
    turn_of = turns_with_passages(alice, chatty, per_turn=40)
    turn_of += turns_with_passages(alice, others)

    hits = search.dense_passages(owner_id=alice.pk, query=query.tolist(), limit=5)

    assert [hit.id for hit in hits] == nearest_turns(turn_of, vectors, query, k=5)


def test_another_owners_closer_passages_never_appear(route: str) -> None:
    rng = np.random.default_rng(6)
    alice, bob = factories.user("alice"), factories.user("bob")
    query = unit_vectors(rng, 1)[0]
    alices = unit_vectors(rng, 60)
    turn_of = turns_with_passages(alice, alices)
    turns_with_passages(bob, (0.9 * query + 0.1 * unit_vectors(rng, 300)).astype(np.float32))

    hits = search.dense_passages(owner_id=alice.pk, query=query.tolist(), limit=TOP_K)

    assert [hit.id for hit in hits] == nearest_turns(turn_of, alices, query)


def test_excluded_turns_passages_are_skipped(route: str) -> None:
    rng = np.random.default_rng(7)
    alice = factories.user("alice")
    vectors = unit_vectors(rng, 60)
    turn_of = turns_with_passages(alice, vectors)
    query = unit_vectors(rng, 1)[0]
    ranked = nearest_turns(turn_of, vectors, query, k=8)

    hits = search.dense_passages(
        owner_id=alice.pk, query=query.tolist(), limit=5, exclude=ranked[:3]
    )

    assert [hit.id for hit in hits] == ranked[3:]


def fill(table: search.Table, owners: int, rows: int, rng: np.random.Generator) -> User:
    """`rows` rows with embeddings for each of `owners` new users, interleaved as when they
    all talk at the same time, then vacuumed and analysed as autovacuum would leave them;
    returns the last owner."""
    now = timezone.now()
    users = User.objects.bulk_create(User(username=f"owner{i}") for i in range(owners))
    chats = [factories.conversation(user) for user in users]
    vectors = unit_vectors(rng, owners * rows)
    rows_in_order = [
        (i, chat, vectors[i * owners + j].tolist())
        for i in range(rows)
        for j, chat in enumerate(chats)
    ]
    if table.kind == "fact":
        Fact.objects.bulk_create(
            Fact(owner=chat.owner, text="fact", embedding=vector)
            for _, chat, vector in rows_in_order
        )
    elif table.kind == "message":
        Message.objects.bulk_create(
            Message(
                conversation=chat,
                owner=chat.owner,
                role=Message.Role.USER,
                content="hi",
                sequence=i,
                embedding=vector,
            )
            for i, chat, vector in rows_in_order
        )
    else:
        Segment.objects.bulk_create(
            Segment(
                owner=chat.owner,
                conversation=chat,
                status=Segment.Status.CLOSED,
                first_sequence=i,
                last_sequence=i,
                start_at=now,
                end_at=now,
                closed_at=now,
                message_count=1,
                key_embedding=vector,
                summary_embedding=vector,
            )
            for i, chat, vector in rows_in_order
        )
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table.name}")
    return chats[-1].owner


@pytest.mark.django_db(transaction=True)  # VACUUM cannot run in a transaction
@pytest.mark.parametrize(
    ("table", "column"),
    [
        (search.SEGMENTS, "key_embedding"),
        (search.SEGMENTS, "summary_embedding"),
        (search.FACTS_CURRENT, "embedding"),
        (search.FACTS_ALL, "embedding"),
        (search.MESSAGES, "embedding"),
    ],
)
def test_exact_route_reads_only_the_owners_covering_index(table: search.Table, column: str) -> None:
    """Among many owners, the exact route's query is answered from the covering index of
    migration 0005 without touching the heap, exclusions included: the index must keep
    covering every column and condition the query uses."""
    owner = fill(table, owners=10, rows=60, rng=np.random.default_rng(4))
    with CaptureQueriesContext(connection) as queries:
        hits = search.dense(
            table,
            column,
            owner_id=owner.pk,
            query=[1.0] + [0.0] * (EMBEDDING_DIM - 1),
            exclude=[str(uuid.uuid4())],
        )
    assert len(hits) == search.LIST_LENGTH
    (sql,) = [q["sql"] for q in queries.captured_queries if "ORDER BY distance" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a table this small fits in a few pages
        plan = plan_of(sql)
        cursor.execute("RESET enable_seqscan")
    assert "Index Only Scan using" in plan, plan
    assert "_owner_exact" in plan, plan


@pytest.mark.django_db(transaction=True)  # VACUUM cannot run in a transaction
def test_exact_route_reads_only_the_owners_passages_from_their_covering_index() -> None:
    rng = np.random.default_rng(8)
    owners = [factories.user(f"owner{i}") for i in range(10)]
    for owner in owners:
        turns_with_passages(owner, unit_vectors(rng, 60))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE memoryapp_passage")
    with CaptureQueriesContext(connection) as queries:
        hits = search.dense_passages(
            owner_id=owners[-1].pk, query=unit_vectors(rng, 1)[0].tolist(), limit=TOP_K,
            exclude=[str(uuid.uuid4())],
        )  # fmt: skip
    assert len(hits) == TOP_K
    (sql,) = [q["sql"] for q in queries.captured_queries if "ORDER BY distance" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        plan = plan_of(sql)
        cursor.execute("RESET enable_seqscan")
    assert "Index Only Scan using passage_embedding_owner_exact" in plan, plan


@pytest.mark.parametrize("table", ["memoryapp_segment", "memoryapp_message", "memoryapp_fact"])
def test_full_text_indexes_lead_with_the_owner(table: str) -> None:
    """Every query is per owner: a full-text index without the owner would make each word's
    matches in everyone's rows a heap visit (migration 0006)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [table, "% USING gin %"],
        )
        definitions = [row[0] for row in cursor.fetchall()]

    assert definitions
    assert all("USING gin (owner_id, search_vector)" in d for d in definitions), definitions
