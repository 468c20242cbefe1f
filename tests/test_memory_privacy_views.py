"""The privacy switches: "don't remember this conversation" in the chat header (and when
creating one), "pause memory" in the chat header and on the Memory page. The signed-in
person's own only (alice, bob and an anonymous client)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from memoryapp.models import Conversation, Fact, MemoryChangeset, Segment
from memoryapp.services.memory import locks
from memoryapp.services.memory.privacy import memory_pause_set, memory_paused
from tests import factories
from tests.support.household import PersonData
from tests.support.memory_lock import memory_locked_elsewhere

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
PAUSE_URL = "/memory/pause"
CONFIRM = "What was learned from it will be forgotten."


def _incognito_url(conversation: Conversation) -> str:
    return f"/c/{conversation.pk}/incognito"


def _html(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def _switch(html: str, element_id: str) -> str:
    """The switch's form, as the page shows it."""
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</form>", start)]


# --- Anonymous and other people --------------------------------------------------------


def test_anonymous_cannot_switch_anything(client: Client, alices: PersonData) -> None:
    for url in (_incognito_url(alices.conversation), PAUSE_URL):
        response = client.post(url, {"state": "on"})
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")

    alices.conversation.refresh_from_db()
    assert not alices.conversation.incognito
    assert not memory_paused(owner=alices.conversation.owner)


def test_bob_cannot_make_alices_conversation_incognito(
    bob_client: Client, alices: PersonData
) -> None:
    response = bob_client.post(_incognito_url(alices.conversation), {"state": "on"}, headers=HTMX)

    assert response.status_code == 404
    alices.conversation.refresh_from_db()
    assert not alices.conversation.incognito
    assert Segment.objects.filter(pk=alices.segment.pk).exists()


def test_bobs_pause_is_his_own(bob_client: Client, alice: User, bob: User) -> None:
    response = bob_client.post(PAUSE_URL, {"state": "on"}, headers=HTMX)

    assert response.status_code == 200
    assert memory_paused(owner=bob) and not memory_paused(owner=alice)


def test_the_switches_only_take_posts(alice_client: Client, alices: PersonData) -> None:
    for url in (_incognito_url(alices.conversation), PAUSE_URL):
        assert alice_client.get(url).status_code == 405


# --- Incognito ---------------------------------------------------------------------------


def test_the_chat_header_shows_the_incognito_switch_off_with_a_warning_before_forgetting(
    alice_client: Client, alices: PersonData
) -> None:
    switch = _switch(
        _html(alice_client, alices.conversation.get_absolute_url()), "incognito-switch"
    )

    assert 'role="switch" aria-checked="false"' in switch
    assert 'name="state" value="on"' in switch
    assert CONFIRM in switch  # it has memory: turning it on forgets it


def test_no_warning_for_a_conversation_without_memory(alice: User, alice_client: Client) -> None:
    chat = factories.conversation(alice)

    switch = _switch(_html(alice_client, chat.get_absolute_url()), "incognito-switch")

    assert CONFIRM not in switch


def test_turning_incognito_on_forgets_what_was_learned_and_says_so(
    alice_client: Client, alices: PersonData, bobs: PersonData
) -> None:
    response = alice_client.post(_incognito_url(alices.conversation), {"state": "on"}, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-checked="true"' in html
    assert "what was learned from it is forgotten" in html
    assert CONFIRM not in html  # turning it off forgets nothing
    alices.conversation.refresh_from_db()
    assert alices.conversation.incognito
    assert not Segment.objects.filter(pk=alices.segment.pk).exists()
    assert not Fact.objects.filter(pk=alices.fact.pk).exists()
    assert alices.conversation.messages.filter(private=False).count() == 0
    # Bob's memory is untouched.
    assert Segment.objects.filter(pk=bobs.segment.pk).exists()
    assert Fact.objects.filter(pk=bobs.fact.pk).exists()


def test_turning_it_off_says_earlier_messages_stay_out_of_memory(
    alice: User, alice_client: Client
) -> None:
    chat = Conversation.objects.create(owner=alice, incognito=True)
    factories.message(chat, "Said while incognito.", private=True)

    response = alice_client.post(_incognito_url(chat), {"state": "off"}, headers=HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'aria-checked="false"' in html
    assert "earlier messages said while it was not remembered stay out of memory" in html
    chat.refresh_from_db()
    assert not chat.incognito
    assert chat.messages.get().private


def test_a_bad_switch_value_is_refused_and_changes_nothing(
    alice_client: Client, alices: PersonData
) -> None:
    for data in ({"state": "maybe"}, {}):
        response = alice_client.post(_incognito_url(alices.conversation), data, headers=HTMX)
        assert response.status_code == 422
        assert "Choose on or off." in response.content.decode()

    alices.conversation.refresh_from_db()
    assert not alices.conversation.incognito
    assert not MemoryChangeset.objects.filter(source=MemoryChangeset.Source.FORGET).exists()


def test_without_htmx_the_switch_returns_to_the_conversation(
    alice_client: Client, alices: PersonData
) -> None:
    response = alice_client.post(_incognito_url(alices.conversation), {"state": "on"})

    assert response.status_code == 302
    assert response["Location"] == alices.conversation.get_absolute_url()
    alices.conversation.refresh_from_db()
    assert alices.conversation.incognito


def test_a_new_conversation_can_start_incognito(alice: User, alice_client: Client) -> None:
    response = alice_client.post("/c/new", {"incognito": "on"})
    incognito = Conversation.objects.get(owner=alice)
    plain_response = alice_client.post("/c/new")
    plain = Conversation.objects.exclude(pk=incognito.pk).get(owner=alice)

    assert response["Location"] == incognito.get_absolute_url()
    assert incognito.incognito and not plain.incognito
    assert plain_response["Location"] == plain.get_absolute_url()
    html = _html(alice_client, incognito.get_absolute_url())
    assert 'name="incognito"' in html  # the option on the "+ New conversation" form
    assert "Incognito: nothing said here is remembered" in html


# --- Pause -------------------------------------------------------------------------------


def test_pausing_from_the_chat_header(alice: User, alice_client: Client) -> None:
    chat = factories.conversation(alice)
    header = _switch(_html(alice_client, chat.get_absolute_url()), "memory-pause")
    assert 'aria-checked="false"' in header and 'value="on"' in header

    response = alice_client.post(PAUSE_URL, {"state": "on"}, headers=HTMX)

    assert response.status_code == 200
    assert 'aria-checked="true"' in response.content.decode()
    assert memory_paused(owner=alice)
    header = _switch(_html(alice_client, chat.get_absolute_url()), "memory-pause")
    assert 'aria-checked="true"' in header and 'value="off"' in header
    assert "Memory is paused" in header


def test_the_memory_page_shows_the_pause_and_resumes_it(alice: User, alice_client: Client) -> None:
    memory_pause_set(owner=alice, paused=True)
    switch = _switch(_html(alice_client, "/memory/"), "memory-pause")
    assert 'aria-checked="true"' in switch

    response = alice_client.post(PAUSE_URL, {"state": "off", "next": "/memory/"})

    assert response.status_code == 302 and response["Location"] == "/memory/"
    assert not memory_paused(owner=alice)


def test_a_plain_post_never_returns_to_another_site(alice: User, alice_client: Client) -> None:
    response = alice_client.post(PAUSE_URL, {"state": "on", "next": "https://evil.example/"})

    assert response["Location"] == "/memory/"
    assert memory_paused(owner=alice)


def test_a_bad_pause_value_is_refused(alice: User, alice_client: Client) -> None:
    response = alice_client.post(PAUSE_URL, {"state": "yes please"}, headers=HTMX)

    assert response.status_code == 422
    assert "Choose on or off." in response.content.decode()
    assert not memory_paused(owner=alice)


def test_incognito_while_a_job_holds_the_memory_says_so_and_changes_nothing(
    alice_client: Client, alices: PersonData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "LOCK_WAIT_SECONDS", 0.2)

    with memory_locked_elsewhere(alices.conversation.owner_id):
        response = alice_client.post(
            _incognito_url(alices.conversation), {"state": "on"}, headers=HTMX
        )

    assert response.status_code == 422  # swapped in by htmx, the reason beside the switch
    assert "being updated right now" in response.content.decode()
    alices.conversation.refresh_from_db()
    assert not alices.conversation.incognito
    assert alices.conversation.messages.filter(private=True).count() == 0
    assert Fact.objects.filter(pk=alices.fact.pk).exists()
