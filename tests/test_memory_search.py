"""Search over memory: the Memory page's search box (/memory/search) and the `memory_search`
command show the units the chat would put in an answer's context (`retrieve_units` within
CHAT_MEMORY_TOKENS), numbered, with their sources; the signed-in person's (or the named
user's) own memory only."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from memoryapp.models import Conversation, Message
from memoryapp.retrieval import retrieve_units
from memoryapp.selectors.memory_search import SEARCH_MAX_CHARS, memory_search
from memoryapp.services.memory.ingestion import conversation_ingest
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/memory/search"
HTMX = {"HX-Request": "true"}
QUESTION = "Where did my sister Ingrid move?"
SAID_AT = datetime(2024, 5, 6, 18, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _deterministic_memory(settings: Any) -> None:
    settings.MEMORY_LLM = "off"


def _remembered(owner: User, *lines: str) -> Conversation:
    """A conversation of `owner` saying `lines` (each answered), ingested into memory."""
    chat = factories.conversation(owner, title=f"{owner.username}'s family")
    for line in lines:
        factories.exchange(chat, line, "I see.")
    Message.objects.filter(conversation=chat).update(created_at=SAID_AT)
    conversation_ingest(conversation_id=chat.pk, final=True)
    return chat


@pytest.fixture
def alices_memory(alice: User) -> Conversation:
    return _remembered(
        alice,
        "My sister Ingrid moved to Lisbon last spring, she loves the tiles there.",
        "I bake <b>sourdough</b> bread every Sunday morning.",
    )


@pytest.fixture
def bobs_memory(bob: User) -> Conversation:
    return _remembered(bob, "My sister Ingrid moved to Oslo, she works on a fjord ferry.")


def _search(client: Client, query: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    response = client.get(URL, {"q": query}, headers=headers)
    return response.status_code, response.content.decode()


# --- The page ----------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client: Client, alices_memory: Conversation) -> None:
    response = client.get(URL, {"q": QUESTION})

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_memory_page_has_the_search_box(alice_client: Client) -> None:
    html = alice_client.get("/memory/").content.decode()

    assert f'hx-get="{URL}"' in html
    assert 'id="memory-search-results"' in html


def test_alice_finds_her_memory_numbered_with_its_sources_and_none_of_bobs(
    alice_client: Client, alices_memory: Conversation, bobs_memory: Conversation
) -> None:
    status, html = _search(alice_client, QUESTION, headers=HTMX)

    assert status == 200
    assert "<html" not in html  # the partial, into the Memory page
    assert '<span class="unit-number">[1]</span>' in html
    assert "Lisbon" in html
    assert "Oslo" not in html
    source = Message.objects.get(conversation=alices_memory, content__contains="Lisbon")
    assert f"/c/{alices_memory.pk}/?highlight={source.pk}#msg-{source.pk}" in html
    assert str(bobs_memory.pk) not in html


def test_bobs_search_never_returns_alices_memory(
    bob_client: Client, alices_memory: Conversation, bobs_memory: Conversation
) -> None:
    status, html = _search(bob_client, QUESTION, headers=HTMX)

    assert status == 200
    assert "Oslo" in html
    assert "Lisbon" not in html and "sourdough" not in html
    assert str(alices_memory.pk) not in html


def test_it_shows_what_the_chat_would_use_within_the_chats_budget(
    alice: User, alices_memory: Conversation, settings: Any
) -> None:
    now = timezone.now()
    found = memory_search(owner=alice, query=QUESTION, now=now)
    chat = retrieve_units(
        owner=alice, question=QUESTION, now=now, token_budget=settings.CHAT_MEMORY_TOKENS
    )

    assert [item.unit for item in found] == chat
    assert [item.unit.number for item in found] == list(range(1, len(chat) + 1))
    assert all(item.sources for item in found)
    assert all(m.owner_id == alice.pk for item in found for m in item.sources)

    settings.CHAT_MEMORY_TOKENS = 30  # room for one unit, not both
    assert len(memory_search(owner=alice, query="Ingrid Lisbon sourdough bread", now=now)) == 1


def test_the_text_people_said_is_escaped(alice_client: Client, alices_memory: Conversation) -> None:
    _, html = _search(alice_client, "sourdough bread", headers=HTMX)

    assert "&lt;b&gt;sourdough&lt;/b&gt;" in html
    assert "<b>sourdough</b>" not in html


def test_without_htmx_it_is_a_page_of_its_own(
    alice_client: Client, alices_memory: Conversation
) -> None:
    status, html = _search(alice_client, QUESTION)

    assert status == 200
    assert "<html" in html and "Search your memory" in html
    assert f'value="{QUESTION}"' in html
    assert "Lisbon" in html


def test_nothing_found_is_said(alice: User, alice_client: Client) -> None:
    status, html = _search(alice_client, "Where did my sister move?", headers=HTMX)

    assert status == 200
    assert "Nothing in your memory matches" in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type what to look for in your memory."),
        ("   \n ", "Type what to look for in your memory."),
        ("x" * (SEARCH_MAX_CHARS + 1), f"the limit is {SEARCH_MAX_CHARS}"),
    ],
)
def test_an_empty_or_oversized_query_is_refused_inline(
    alice_client: Client, alices_memory: Conversation, query: str, message: str
) -> None:
    status, html = _search(alice_client, query, headers=HTMX)

    assert status == 422
    assert message in html
    assert 'role="alert"' in html


# --- The command -------------------------------------------------------------------------


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("memory_search", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_the_units_as_json(
    alice: User, alices_memory: Conversation, bobs_memory: Conversation, settings: Any
) -> None:
    document = json.loads(_command("--user", "alice", "--query", QUESTION, "--json"))

    units = document["units"]
    assert document["budget"] == settings.CHAT_MEMORY_TOKENS
    assert document["tokens"] == sum(unit["tokens"] for unit in units) <= document["budget"]
    assert [unit["number"] for unit in units] == list(range(1, len(units) + 1))
    assert "Lisbon" in units[0]["text"]
    assert {"number", "kind", "tokens", "text", "message_ids", "conversation_ids"} <= set(units[0])
    mine = {str(pk) for pk in Message.objects.filter(owner=alice).values_list("pk", flat=True)}
    assert all(set(unit["message_ids"]) <= mine for unit in units)
    assert {c for unit in units for c in unit["conversation_ids"]} == {str(alices_memory.pk)}
    assert "Oslo" not in json.dumps(document)


def test_the_command_for_bob_never_shows_alices_memory(
    alices_memory: Conversation, bobs_memory: Conversation
) -> None:
    text = _command("--user", "bob", "--query", QUESTION, "--json")

    assert "Oslo" in text
    assert "Lisbon" not in text and str(alices_memory.pk) not in text


def test_the_command_reads_as_text_without_json(alices_memory: Conversation) -> None:
    text = _command("--user", "alice", "--query", QUESTION)

    assert text.startswith("2 units") or text.startswith("1 unit")
    assert "\n[1] " in text and "Lisbon" in text
    source = Message.objects.get(conversation=alices_memory, content__contains="Lisbon")
    assert f"messages: {source.pk}" in text
    assert f"conversations: {alices_memory.pk}" in text


def test_an_unknown_user_is_refused_clearly() -> None:
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        _command("--user", "nobody", "--query", QUESTION)


def test_an_empty_query_is_refused_clearly(alice: User) -> None:
    with pytest.raises(CommandError, match="Type what to look for"):
        _command("--user", "alice", "--query", "  ")


def test_a_query_with_a_nul_character_is_refused_inline(
    alice_client: Client, alices_memory: Conversation
) -> None:
    status, html = _search(alice_client, "Ingrid\x00 Oslo", headers=HTMX)

    assert status == 422
    assert "Null characters are not allowed" in html
