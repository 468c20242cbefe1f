"""The forget pages: the sidebar's Delete of a conversation, and Forget of a fact, a topic or
everything on the Memory page, each showing what goes before a POST forgets it; only ever
the signed-in person's own memory."""

from __future__ import annotations

from uuid import uuid4

import pytest
from django.contrib.auth.models import User
from django.test import Client

from memoryapp.models import (
    Citation,
    Conversation,
    Fact,
    FactSource,
    MemoryChangeset,
    Message,
    Passage,
    Segment,
)
from memoryapp.services.memory import locks
from tests import factories
from tests.support.household import ALICE, BOB, PersonData
from tests.support.memory_lock import memory_locked_elsewhere

pytestmark = pytest.mark.django_db


def _urls(data: PersonData) -> list[str]:
    return [
        f"/c/{data.conversation.pk}/delete",
        f"/memory/forget/fact/{data.fact.pk}",
        f"/memory/forget/topic/{data.segment.pk}",
    ]


def _rows(owner: User) -> dict[str, int]:
    return {
        model.__name__: model._default_manager.filter(owner=owner).count()
        for model in (Conversation, Message, Passage, Segment, Fact, FactSource, Citation)
    }


def test_anonymous_is_sent_to_sign_in_and_nothing_is_forgotten(
    client: Client, alice: User, alices: PersonData
) -> None:
    before = _rows(alice)

    for url in [*_urls(alices), "/memory/forget/everything"]:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/login/")

    assert _rows(alice) == before


def test_another_persons_ids_are_not_found_and_nothing_of_theirs_changes(
    bob_client: Client, alice: User, alices: PersonData, bobs: PersonData
) -> None:
    before = _rows(alice)

    for url in _urls(alices):
        for method in ("get", "post"):
            assert getattr(bob_client, method)(url).status_code == 404, url

    assert _rows(alice) == before
    assert not MemoryChangeset.objects.filter(source=MemoryChangeset.Source.FORGET).exists()


def test_ids_that_are_nobodys_or_not_ids_are_not_found(alice_client: Client) -> None:
    for url in [
        f"/c/{uuid4()}/delete",
        f"/memory/forget/fact/{uuid4()}",
        f"/memory/forget/topic/{uuid4()}",
        "/memory/forget/fact/not-an-id",
        "/memory/forget/topic/123",
    ]:
        assert alice_client.get(url).status_code == 404, url
        assert alice_client.post(url).status_code == 404, url


def test_other_methods_are_refused(alice_client: Client, alices: PersonData) -> None:
    for url in [*_urls(alices), "/memory/forget/everything"]:
        assert alice_client.put(url).status_code == 405, url


def test_a_post_without_the_csrf_token_is_refused(alice: User, alices: PersonData) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = _rows(alice)

    for url in [*_urls(alices), "/memory/forget/everything"]:
        assert client.post(url).status_code == 403, url

    assert _rows(alice) == before


def test_deleting_a_conversation_first_shows_what_it_forgets(
    alice_client: Client, alice: User, alices: PersonData
) -> None:
    before = _rows(alice)

    response = alice_client.get(f"/c/{alices.conversation.pk}/delete", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # the dialog's content only
    assert f"Delete “{ALICE} chat” and all of its messages?" in html
    assert '<li id="forget-messages"><strong>2</strong> messages</li>' in html
    assert '<li id="forget-segments"><strong>1</strong> topic</li>' in html
    assert '<li id="forget-passages"><strong>1</strong> passage' in html
    assert '<li id="forget-facts"><strong>1</strong> fact</li>' in html
    assert '<li id="forget-citations"><strong>1</strong> citation in answers</li>' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert f'action="/c/{alices.conversation.pk}/delete"' in html
    assert _rows(alice) == before


def test_without_htmx_the_preview_is_a_page_of_its_own(
    alice_client: Client, alices: PersonData
) -> None:
    response = alice_client.get(f"/c/{alices.conversation.pk}/delete")

    html = response.content.decode()
    assert "<html" in html
    assert "Delete conversation" in html
    assert f'href="{alices.conversation.get_absolute_url()}"' in html  # back, or cancel


def test_confirming_deletes_the_conversation_and_what_was_learned_from_it(
    alice_client: Client, alice: User, alices: PersonData, bobs: PersonData
) -> None:
    bob_before = _rows(bobs.conversation.owner)

    response = alice_client.post(f"/c/{alices.conversation.pk}/delete", follow=True)

    assert response.redirect_chain[0] == ("/", 302)
    html = response.content.decode()
    assert f"Deleted “{ALICE} chat”. Forgotten with it: 2 messages, 1 topic" in html
    assert _rows(alice) == {
        "Conversation": 0,
        "Message": 0,
        "Passage": 0,
        "Segment": 0,
        "Fact": 1,
        "FactSource": 0,
        "Citation": 0,
    }
    # The fact it superseded, which had no source of its own, is current again.
    kept = Fact.objects.get(owner=alice)
    assert (kept.pk, kept.status) == (alices.old_fact.pk, Fact.Status.ACTIVE)
    assert _rows(bobs.conversation.owner) == bob_before


def test_a_fact_learned_elsewhere_too_is_listed_as_staying(
    alice_client: Client, alice: User, alices: PersonData
) -> None:
    other = factories.conversation(alice, title="Honey")
    said = factories.message(other, "The honey was great.")
    FactSource.objects.create(fact=alices.fact, message=said, owner=alice)

    html = alice_client.get(f"/c/{alices.conversation.pk}/delete").content.decode()

    assert '<li id="forget-facts"><strong>0</strong> facts</li>' in html
    assert f'<li id="kept-fact-{alices.fact.pk}">{alices.fact.text}</li>' in html
    alice_client.post(f"/c/{alices.conversation.pk}/delete")
    assert list(alices.fact.source_messages.all()) == [said]


def test_the_memory_page_has_forget_for_each_fact_and_topic_and_for_everything(
    alice_client: Client, alices: PersonData
) -> None:
    html = alice_client.get("/memory/").content.decode()

    assert f'href="/memory/forget/fact/{alices.fact.pk}"' in html
    assert f'href="/memory/forget/fact/{alices.old_fact.pk}"' in html
    assert f'href="/memory/forget/topic/{alices.segment.pk}"' in html
    assert 'href="/memory/forget/everything"' in html


def test_forgetting_a_fact_shows_it_then_removes_only_it(
    alice_client: Client, alice: User, alices: PersonData
) -> None:
    url = f"/memory/forget/fact/{alices.fact.pk}"

    html = alice_client.get(url).content.decode()
    assert "Forget this fact?" in html and alices.fact.text in html
    assert '<li id="forget-messages"><strong>0</strong> messages</li>' in html
    response = alice_client.post(url, follow=True)

    assert response.redirect_chain[0] == ("/memory/", 302)
    assert "Forgot a fact. Forgotten with it: 0 messages" in response.content.decode()
    assert not Fact.objects.filter(pk=alices.fact.pk).exists()
    assert Message.objects.filter(owner=alice).count() == 2


def test_forgetting_a_topic_removes_its_messages(
    alice_client: Client, alice: User, alices: PersonData
) -> None:
    url = f"/memory/forget/topic/{alices.segment.pk}"

    html = alice_client.get(url).content.decode()
    assert f"Forget the topic “{ALICE} bees”" in html
    alice_client.post(url)

    assert not Segment.objects.filter(owner=alice).exists()
    assert not Message.objects.filter(owner=alice).exists()
    assert Conversation.objects.filter(pk=alices.conversation.pk).exists()


def test_forgetting_everything_shows_the_counts_then_leaves_nothing(
    alice_client: Client, alice: User, alices: PersonData, bobs: PersonData
) -> None:
    bob_before = _rows(bobs.conversation.owner)

    html = alice_client.get("/memory/forget/everything").content.decode()
    assert '<li id="forget-conversations"><strong>1</strong> conversation</li>' in html
    assert '<li id="forget-facts"><strong>2</strong> facts</li>' in html
    response = alice_client.post("/memory/forget/everything", follow=True)

    assert response.redirect_chain[0] == ("/memory/", 302)
    page = response.content.decode()
    assert "Forgot everything." in page
    assert ALICE not in page and BOB not in page
    assert set(_rows(alice).values()) == {0}
    assert _rows(bobs.conversation.owner) == bob_before


def test_while_memory_is_being_updated_the_page_says_so_and_forgets_nothing(
    alice_client: Client, alice: User, alices: PersonData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "LOCK_WAIT_SECONDS", 0.2)
    before = _rows(alice)

    with memory_locked_elsewhere(alice.pk):
        response = alice_client.post(f"/c/{alices.conversation.pk}/delete")

    assert response.status_code == 409
    html = response.content.decode()
    assert "Your memory is being updated right now; nothing was forgotten." in html
    assert "Delete conversation" in html  # the preview again, to try once more
    assert _rows(alice) == before
