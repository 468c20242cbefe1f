"""The Memory page (/memory/): the signed-in person's own memory only, read-only, with where
each fact and topic was learned, in a bounded number of queries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import DjangoAssertNumQueries

from memoryapp.models import Fact, FactSource, JobStatus, Segment
from memoryapp.selectors.memory_page import TOPICS_PER_PAGE
from tests import factories
from tests.support.household import ALICE, BOB, PersonData

pytestmark = pytest.mark.django_db

URL = "/memory/"


def _page(client: Client, url: str = URL) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _topics(owner: User, count: int) -> None:
    """`count` closed segments of one exchange each, in one conversation of `owner`."""
    chat = factories.conversation(owner, title="many topics")
    for index in range(count):
        question, answer = factories.exchange(chat, f"topic question {index}", f"answer {index}")
        segment = factories.closed_segment(chat, [question, answer])
        Segment.objects.filter(pk=segment.pk).update(title=f"topic number {index:02d}")


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_chat_header_links_to_the_memory_page(alice_client: Client) -> None:
    assert f'href="{URL}"' in _page(alice_client, "/")


def test_alice_sees_her_memory_and_none_of_bobs(
    alice_client: Client, alices: PersonData, bobs: PersonData
) -> None:
    html = _page(alice_client)

    assert alices.profile.summary in html
    assert alices.fact.text in html
    assert alices.old_fact.text in html
    assert "alicemark bees" in html  # her topic's title
    assert ALICE in html and BOB not in html


def test_bob_sees_none_of_alices(bob_client: Client, alices: PersonData, bobs: PersonData) -> None:
    html = _page(bob_client)

    assert bobs.fact.text in html
    assert ALICE not in html


def test_a_past_fact_shows_its_validity_and_what_replaced_it(
    alice_client: Client, alices: PersonData
) -> None:
    html = _page(alice_client)
    past = html[html.index(f'id="fact-{alices.old_fact.pk}"') :]

    assert "Superseded" in past[:2000]
    assert f'Replaced by: <a href="#fact-{alices.fact.pk}">{alices.fact.text}</a>' in past
    assert alices.old_fact.valid_to is not None
    assert f"until {alices.old_fact.valid_to:%-d %b %Y}" in past[:2000]


def test_current_facts_are_grouped_by_kind_newest_first(alice: User, alice_client: Client) -> None:
    now = timezone.now()
    for days, kind, text in [
        (3, Fact.Kind.WORK, "older work fact"),
        (1, Fact.Kind.WORK, "newer work fact"),
        (2, Fact.Kind.PREFERENCE, "likes tea"),
    ]:
        Fact.objects.create(owner=alice, text=text, kind=kind, recorded_at=now - timedelta(days))

    html = _page(alice_client)

    assert html.index("<h3>Work</h3>") < html.index("newer work fact")
    assert html.index("newer work fact") < html.index("older work fact")
    assert html.index("older work fact") < html.index("<h3>Preference</h3>")
    assert html.index("<h3>Preference</h3>") < html.index("likes tea")


def test_learned_from_links_open_alices_conversation_at_the_message(
    alice_client: Client, alices: PersonData, bobs: PersonData
) -> None:
    html = _page(alice_client)
    chat, question, answer = alices.conversation.pk, alices.question.pk, alices.answer.pk

    fact = html[html.index(f'id="fact-{alices.fact.pk}"') :]
    assert f'href="/c/{chat}/?highlight={question}#msg-{question}"' in fact[:3000]
    topic = html[html.index(f'id="segment-{alices.segment.pk}"') :]
    for message in (question, answer):
        assert f'href="/c/{chat}/?highlight={message}#msg-{message}"' in topic
    assert str(bobs.conversation.pk) not in html


def test_counts_and_jobs_at_the_top(alice: User, alice_client: Client, alices: PersonData) -> None:
    _topics(alice, 2)
    Segment.objects.filter(owner=alice, title="topic number 00").update(job_status=JobStatus.FAILED)

    html = _page(alice_client)

    assert '<li id="count-messages">6 messages</li>' in html
    assert '<li id="count-segments">3 topics</li>' in html
    assert '<li id="count-facts">1 current fact</li>' in html  # the superseded one is past
    assert '<li id="count-jobs-pending">2 memory jobs pending</li>' in html
    assert '<li id="count-jobs-failed">1 memory job failed</li>' in html


def test_with_the_demo_model_the_llm_stages_are_off_and_it_says_so(
    alice_client: Client, settings: Any
) -> None:
    settings.MEMORY_LLM = "auto"
    settings.LLM_MODEL_PATH = settings.LLM_MODEL_REPO = settings.LLM_MODEL_FILE = ""

    html = _page(alice_client)

    assert "memory stages are off" in html
    assert 'href="/help/models"' in html


def test_with_the_llm_stages_switched_on_there_is_no_notice(
    alice_client: Client, settings: Any
) -> None:
    settings.MEMORY_LLM = "on"

    html = _page(alice_client)

    assert "memory stages are off" not in html
    assert "The model writes summaries" in html


def test_topics_are_paginated(alice: User, alice_client: Client) -> None:
    _topics(alice, TOPICS_PER_PAGE + 5)

    first = _page(alice_client)
    second = _page(alice_client, f"{URL}?page=2")

    assert first.count('class="memory-topic"') == TOPICS_PER_PAGE
    assert second.count('class="memory-topic"') == 5
    assert "topic number 24" in first and "topic number 24" not in second  # newest first
    assert "topic number 00" in second
    assert "Page 2 of 2" in second


def test_fact_text_is_escaped(alice: User, alice_client: Client) -> None:
    Fact.objects.create(owner=alice, text="<script>alert('x')</script> likes tea")

    html = _page(alice_client)

    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; likes tea" in html


def test_the_page_takes_a_bounded_number_of_queries(
    alice: User,
    alice_client: Client,
    alices: PersonData,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    _topics(alice, TOPICS_PER_PAGE + 5)
    chat = factories.conversation(alice, title="facts")
    for index in range(30):
        question, _ = factories.exchange(chat, f"fact source {index}", "ok")
        fact = Fact.objects.create(owner=alice, text=f"fact {index}", kind=Fact.Kind.OTHER)
        FactSource.objects.create(fact=fact, message=question, owner=alice)

    # 15: one of them reads the active model (whether memory's model stages run).
    with django_assert_max_num_queries(15):
        html = _page(alice_client)

    assert html.count('class="memory-fact"') == 31
