"""An answer's page elements: the "Memory used" list, the chips, and Continue for a cut
answer (owner-only, refused when there is nothing to continue)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from memoryapp.models import Conversation, Message
from tests import factories

pytestmark = pytest.mark.django_db

SAID = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


def _exchange(
    chat: Conversation, answer_text: str, **answer_fields: Any
) -> tuple[Message, Message]:
    return factories.exchange(chat, "Tell me about Lisbon.", answer_text, **answer_fields)


def _cut(chat: Conversation) -> Message:
    _, answer = _exchange(chat, "Lisbon is the capital of", finish_reason="length", token_count=512)
    return answer


def test_a_cut_answer_ends_with_a_note_and_continue(alice: User, alice_client: Client) -> None:
    chat = factories.conversation(alice)
    answer = _cut(chat)

    page = alice_client.get(chat.get_absolute_url()).content.decode()

    assert "(answer cut at 512 tokens: " in page
    assert f'hx-post="/m/{answer.pk}/continue"' in page


def test_only_the_latest_answer_can_be_continued(alice: User, alice_client: Client) -> None:
    chat = factories.conversation(alice)
    earlier = _cut(chat)
    _exchange(chat, "Porto is in the north.")

    page = alice_client.get(chat.get_absolute_url()).content.decode()
    response = alice_client.post(f"/m/{earlier.pk}/continue")

    assert "(answer cut at 512 tokens)" in page
    assert f"/m/{earlier.pk}/continue" not in page
    assert response.status_code == 409
    assert response["Content-Type"].startswith("text/plain")
    earlier.refresh_from_db()
    assert earlier.status == Message.Status.DONE


def test_continue_sends_the_answer_back_with_its_text(alice: User, alice_client: Client) -> None:
    chat = factories.conversation(alice)
    answer = _cut(chat)

    response = alice_client.post(f"/m/{answer.pk}/continue")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Lisbon is the capital of" in html
    assert f'id="stream-{answer.pk}"></div>' in html  # the rest streams in here
    assert f"/m/{answer.pk}/stop" in html
    answer.refresh_from_db()
    assert answer.status == Message.Status.PENDING
    assert answer.content == "Lisbon is the capital of"


def test_continue_is_refused_for_an_answer_that_was_not_cut(
    alice: User, alice_client: Client
) -> None:
    chat = factories.conversation(alice)
    _, answer = _exchange(chat, "Lisbon is the capital.", finish_reason="stop")

    response = alice_client.post(f"/m/{answer.pk}/continue")
    page = alice_client.get(chat.get_absolute_url()).content.decode()

    assert response.status_code == 409
    assert "cut at the token limit" in response.content.decode()
    assert "answer cut at" not in page
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE


def test_continue_of_another_users_answer_is_not_found(alice_client: Client) -> None:
    bob = factories.user("bob")
    answer = _cut(factories.conversation(bob))

    response = alice_client.post(f"/m/{answer.pk}/continue")

    assert response.status_code == 404
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE


def test_continue_needs_a_post(alice: User, alice_client: Client) -> None:
    answer = _cut(factories.conversation(alice))

    assert alice_client.get(f"/m/{answer.pk}/continue").status_code == 405


def test_a_failed_continuation_shows_its_error_with_retry(
    alice: User, alice_client: Client
) -> None:
    chat = factories.conversation(alice)
    _, answer = _exchange(
        chat,
        "Lisbon is the capital of",
        finish_reason="length",
        token_count=512,
        error="The answer could not be continued. The model could not answer: <b>boom</b>",
    )

    page = alice_client.get(chat.get_absolute_url()).content.decode()

    assert "The model could not answer: &lt;b&gt;boom&lt;/b&gt;" in page
    assert f'hx-post="/m/{answer.pk}/continue"' in page
    assert ">Retry</button>" in page
    assert "(answer cut at" not in page


def _cite_all(answer: Message, sources: list[Message]) -> None:
    for number, message in enumerate(sources, start=1):
        factories.citation(answer, number, [message.pk], kind="message", cited=number == 2)


def _queries(client: Client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url).content.decode()
    return len(queries), page


def test_the_memory_used_list_shows_every_unit_escaped(alice: User, alice_client: Client) -> None:
    earlier = factories.conversation(alice, title="Earlier")
    said = factories.message(
        earlier,
        "<script>alert(1)</script> my sister Mia lives in Lisbon by the river",
        created_at=SAID,
    )
    other = factories.message(earlier, "I was born in 1990.", created_at=SAID)
    chat = factories.conversation(alice)
    _cite_all(_exchange(chat, "An answer without any number.")[1], [said, other])
    one_answer, _ = _queries(alice_client, chat.get_absolute_url())
    for n in range(3):
        _cite_all(_exchange(chat, f"Answer {n} without any number.")[1], [said, other])

    four_answers, page = _queries(alice_client, chat.get_absolute_url())

    assert four_answers == one_answer  # not one query more per answer or citation
    assert page.count("<summary>Memory used (2)</summary>") == 4
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; my sister Mia lives in Lisbon by…" in page
    assert f"?highlight={said.pk}#msg-{said.pk}" in page
    # Only the cited unit is a chip, labelled by its words and date, and marked in the list.
    assert page.count('class="chip"') == 4
    assert "[2] I was born in 1990. · Apr 2, 2024</a>" in page
    assert page.count(">cited</span>") == 4
