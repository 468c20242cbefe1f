"""The admin's lists and pages on large tables (issue 14, item 8): filters by owner, status,
kind and date; full-text search through the tables' search vectors; the review inbox and
import jobs registered, within members' consent; vectors shown as their size, never their
numbers; a list page's queries bounded and no full count of a large table."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from memoryapp.admin_paging import LargeTablePaginator, planner_rows
from memoryapp.embeddings import EMBEDDING_DIM
from memoryapp.models import (
    AdminAccess,
    Fact,
    FactProposal,
    ImportJob,
    JobStatus,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Passage,
    Segment,
)
from memoryapp.services.accounts import member_settings_update
from memoryapp.services.memory.journal import fact_snapshot
from tests import factories
from tests.support.household import ALICE, BOB, PersonData

pytestmark = pytest.mark.django_db

# Exactly representable in float32, so a vector rendered as numbers would show it as is.
MARK = 0.4375
VECTOR = [MARK] * EMBEDDING_DIM
# A list page of 100 rows, whatever the table's size: the session, the user, who consented,
# the owner filter's choices, the planner's estimate, the (capped) count, the rows, and the
# record of bob's rows on the page.
LIST_QUERIES = 8


def _url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def listed(client: Client, model: type[Model], query: str = "") -> list[Any]:
    response = client.get(_url(model, "changelist") + query)
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def proposal(owner: User, marker: str, **fields: Any) -> FactProposal:
    return FactProposal.objects.create(
        owner=owner,
        action=FactProposal.Action.ADD,
        why=FactProposal.Why.UNSURE,
        text=f"{marker} may keep bees.",
        said_at=timezone.now(),
        embedding=VECTOR,
        **fields,
    )


def import_job(owner: User, marker: str, status: str = JobStatus.DONE) -> ImportJob:
    return ImportJob.objects.create(
        owner=owner,
        format=ImportJob.Format.CHATGPT,
        filename=f"{marker}.zip",
        sha256="0" * 64,
        job_status=status,
    )


# --- Filters and search -----------------------------------------------------------------------


def since(moment: datetime) -> str:
    """A date filter's parameter, as the admin's own date links write it."""
    return quote(str(moment.replace(hour=0, minute=0, second=0, microsecond=0)))


def test_lists_filter_by_status_kind_and_date(alice_client: Client, alices: PersonData) -> None:
    today = since(timezone.localtime())
    future = since(timezone.localtime() + timedelta(days=2))
    done = import_job(alices.fact.owner, ALICE)
    failed = import_job(alices.fact.owner, f"{ALICE}-broken", JobStatus.FAILED)
    rejected = proposal(
        alices.fact.owner, ALICE, status=FactProposal.Status.REJECTED, decided_at=timezone.now()
    )
    pending = proposal(alices.fact.owner, f"{ALICE}2")
    cases: list[tuple[type[Model], str, list[Model]]] = [
        (Fact, "?status__exact=superseded", [alices.old_fact]),
        (Fact, "?status__exact=active&kind__exact=other", [alices.fact]),
        (Fact, f"?recorded_at__gte={future}", []),
        (Segment, "?job_status__exact=pending&status__exact=closed", [alices.segment]),
        (Segment, f"?start_at__gte={today}", [alices.segment]),
        (Message, "?role__exact=assistant", [alices.answer]),
        (Message, "?private__exact=1", []),
        (MemoryChangeset, "?source__exact=consolidation&undone_by__isempty=1", [alices.changeset]),
        (MemoryChangeset, "?undone_by__isempty=0", []),
        (MemoryEvent, "?action__exact=add", [alices.event]),
        (FactProposal, "?status__exact=pending", [pending]),
        (FactProposal, "?status__exact=rejected&why__exact=unsure", [rejected]),
        (ImportJob, "?job_status__exact=failed", [failed]),
        (ImportJob, "?job_status__exact=done&format__exact=chatgpt", [done]),
    ]

    for model, query, expected in cases:
        assert {row.pk for row in listed(alice_client, model, query)} == {
            row.pk for row in expected
        }, f"{model.__name__}{query}"


@pytest.mark.parametrize(
    ("model", "query", "expected"),
    [
        (Fact, "keeping bee", ["fact"]),  # stemmed: no LIKE would find "keeps bees."
        (Message, "keeping bee", ["question"]),
        (Segment, f'"{ALICE} bees"', ["segment"]),
        (Fact, "bees -keep", ["old_fact"]),
    ],
)
def test_search_is_postgres_full_text_on_the_search_vector(
    alice_client: Client, alices: PersonData, model: type[Model], query: str, expected: list[str]
) -> None:
    with CaptureQueriesContext(connection) as captured:
        rows = listed(alice_client, model, f"?q={query}")

    assert {row.pk for row in rows} == {getattr(alices, name).pk for name in expected}
    table = model._meta.db_table
    searches = [q["sql"] for q in captured if f'FROM "{table}"' in q["sql"] and "@@" in q["sql"]]
    assert searches and all("websearch_to_tsquery" in sql for sql in searches)
    assert not any("LIKE" in q["sql"].upper() for q in captured if table in q["sql"])


def test_search_finds_bobs_rows_only_with_his_consent(
    alice_client: Client, alices: PersonData, bob: User, bobs: PersonData
) -> None:
    assert listed(alice_client, Fact, f"?q={BOB}") == []

    member_settings_update(user=bob, admin_may_inspect=True)

    assert [row.pk for row in listed(alice_client, Fact, f"?q={BOB} keeps")] == [bobs.fact.pk]


# --- The review inbox and import jobs ---------------------------------------------------------


@pytest.mark.parametrize("model", [FactProposal, ImportJob])
def test_proposals_and_imports_are_listed_within_consent_and_recorded(
    alice: User, alice_client: Client, bob: User, model: type[Model]
) -> None:
    make = proposal if model is FactProposal else import_job
    mine, his = make(alice, ALICE), make(bob, BOB)

    assert [row.pk for row in listed(alice_client, model)] == [mine.pk]
    refused = alice_client.get(_url(model, "change", his.pk), follow=True)
    assert refused.redirect_chain[-1][0] == reverse("admin:index")
    assert BOB not in refused.content.decode()
    assert not AdminAccess.objects.exists()

    member_settings_update(user=bob, admin_may_inspect=True)

    assert {row.pk for row in listed(alice_client, model)} == {mine.pk, his.pk}
    page = alice_client.get(_url(model, "change", his.pk))
    assert page.status_code == 200 and BOB in page.content.decode()
    assert "Save" not in page.content.decode()
    label = model._meta.label_lower
    assert list(AdminAccess.objects.order_by("id").values_list("member", "model", "object_id")) == [
        (bob.pk, label, AdminAccess.LIST),
        (bob.pk, label, str(his.pk)),
    ]
    assert alice_client.get(_url(model, "add")).status_code == 403


# --- Vectors ----------------------------------------------------------------------------------


def test_change_pages_show_a_vectors_size_never_its_numbers(
    alice: User, alice_client: Client, alices: PersonData
) -> None:
    Fact.objects.filter(pk=alices.fact.pk).update(embedding=VECTOR, embedding_model="minilm-x")
    Segment.objects.filter(pk=alices.segment.pk).update(
        key_embedding=VECTOR, summary_embedding=VECTOR, embedding_model="minilm-x"
    )
    Message.objects.filter(pk=alices.question.pk).update(embedding=VECTOR)
    Passage.objects.filter(pk=alices.passage.pk).update(embedding=VECTOR)
    alices.fact.refresh_from_db()
    MemoryEvent.objects.filter(pk=alices.event.pk).update(after=fact_snapshot(alices.fact))
    pages = [
        (Fact, alices.fact.pk),
        (Segment, alices.segment.pk),
        (Message, alices.question.pk),
        (Passage, alices.passage.pk),
        (FactProposal, proposal(alice, ALICE).pk),
        (MemoryEvent, alices.event.pk),
        (MemoryChangeset, alices.changeset.pk),  # its events inline
    ]

    for model, pk in pages:
        body = alice_client.get(_url(model, "change", pk)).content.decode()
        assert str(MARK) not in body, model.__name__
        assert f"{EMBEDDING_DIM}-dim vector" in body, model.__name__
    fact_page = alice_client.get(_url(Fact, "change", alices.fact.pk)).content.decode()
    assert f"{EMBEDDING_DIM}-dim vector (model minilm-x)" in fact_page


# --- Large tables -----------------------------------------------------------------------------


@pytest.fixture
def many_rows(alice: User, bob: User) -> int:
    """300 messages and 300 facts, half of them alice's and half bob's (who consented)."""
    member_settings_update(user=bob, admin_may_inspect=True)
    count = 0
    for owner, marker in ((alice, ALICE), (bob, BOB)):
        chat = factories.conversation(owner, title=f"{marker} long chat")
        Message.objects.bulk_create(
            Message(
                conversation=chat,
                owner=owner,
                role=Message.Role.USER,
                content=f"{marker} says thing number {i}. " * 50,
                sequence=i,
                embedding=VECTOR,
            )
            for i in range(150)
        )
        Fact.objects.bulk_create(
            Fact(owner=owner, text=f"{marker} knows thing number {i}.", embedding=VECTOR)
            for i in range(150)
        )
        count += 150
    return count


@pytest.mark.parametrize("model", [Fact, Message])
def test_a_long_list_page_takes_a_fixed_number_of_queries_and_reads_no_vector(
    alice_client: Client,
    many_rows: int,
    model: type[Model],
    django_assert_max_num_queries: Any,
) -> None:
    with django_assert_max_num_queries(LIST_QUERIES) as captured:
        response = alice_client.get(_url(model, "changelist"))

    cl = response.context["cl"]
    assert len(cl.result_list) == 100 and cl.result_count == many_rows
    table = model._meta.db_table
    rows_query = next(q["sql"] for q in captured if q["sql"].startswith(f'SELECT "{table}"."id"'))
    assert f'"{table}"."embedding"' not in rows_query
    assert f'"{table}"."search_vector"' not in rows_query
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 10001" in sql for sql in counts)
    # The body of each message is not read, only its first characters.
    if model is Message:
        start = f'LEFT("{table}"."content", 80)'
        assert start in rows_query
        assert f'"{table}"."content"' not in rows_query.replace(start, "")


def test_an_unfiltered_list_past_the_count_limit_is_estimated_not_counted(
    alice_client: Client, many_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LargeTablePaginator, "exact_limit", 50)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memoryapp_fact")

    with CaptureQueriesContext(connection) as captured:
        response = alice_client.get(_url(Fact, "changelist"))

    assert not [q for q in captured if "COUNT(" in q["sql"].upper()]
    cl = response.context["cl"]
    assert 200 <= cl.result_count <= 400  # the planner's estimate of 300
    assert 200 <= planner_rows(Fact.objects.all()) <= 400
    assert planner_rows(Fact.objects.filter(pk__in=[])) == 0
    assert len(cl.result_list) == 100

    # Filtered, it is counted, up to the limit.
    narrow = alice_client.get(_url(Fact, "changelist") + f"?q={ALICE} thing number 7")
    assert narrow.context["cl"].result_count == 1
    wide = alice_client.get(_url(Fact, "changelist") + "?status__exact=active")
    assert wide.context["cl"].result_count >= 51
