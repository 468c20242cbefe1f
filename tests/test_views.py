"""Pages and htmx endpoints: sign-in required, owner-scoped, errors shown inline."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from memoryapp.models import Conversation, Message
from memoryapp.services.accounts import setup_token_create
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice() -> User:
    """Not staff, unlike the household's (tests/support/household.py), whose `bob` and
    `alice_client` these tests use with this alice."""
    return factories.user("alice")


@pytest.fixture
def bobs_chat(bob: User) -> Conversation:
    chat = factories.conversation(bob, title="Bob's secrets")
    question = factories.message(chat, "my pin is 1234")
    factories.message(chat, "noted", role=Message.Role.ASSISTANT, reply_to=question)
    return chat


def test_pages_require_sign_in(client: Client) -> None:
    for url in ["/", "/search?q=x", "/members/", "/help/models"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_health_and_login_pages_are_public(client: Client) -> None:
    assert client.get("/login/").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)


def test_another_users_conversation_is_not_found_everywhere(
    alice_client: Client, bobs_chat: Conversation
) -> None:
    chat_id = bobs_chat.pk
    answer = bobs_chat.messages.get(role="assistant")
    requests = [
        ("get", f"/c/{chat_id}/", {}),
        ("post", f"/c/{chat_id}/rename", {"title": "mine now"}),
        ("post", f"/c/{chat_id}/delete", {}),
        ("post", f"/c/{chat_id}/messages", {"content": "hi"}),
        ("get", f"/m/{answer.pk}/", {}),
        ("post", f"/m/{answer.pk}/stop", {}),
        ("post", f"/m/{answer.pk}/retry", {}),
    ]
    for method, url, data in requests:
        response = getattr(alice_client, method)(url, data)
        assert response.status_code == 404, url

    bobs_chat.refresh_from_db()
    assert bobs_chat.title == "Bob's secrets"
    assert bobs_chat.messages.count() == 2


def test_search_finds_only_your_own_conversations(
    alice: User, alice_client: Client, bobs_chat: Conversation
) -> None:
    mine = factories.conversation(alice, title="Garden plans")
    factories.message(mine, "The tomatoes need more sun this year")

    by_content = alice_client.get("/search", {"q": "tomatoes"}).content.decode()
    by_title = alice_client.get("/search", {"q": "garden"}).content.decode()
    bobs_word = alice_client.get("/search", {"q": "pin"}).content.decode()

    assert "Garden plans" in by_content and "Garden plans" in by_title
    assert "Bob" not in bobs_word and "No conversation matches" in bobs_word


def test_sending_an_empty_message_shows_an_inline_error(alice: User, alice_client: Client) -> None:
    chat = factories.conversation(alice)

    response = alice_client.post(
        f"/c/{chat.pk}/messages", {"content": "  "}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 422
    assert response["HX-Retarget"] == "#composer"
    assert "Write a message first." in response.content.decode()
    assert not Message.objects.exists()


def test_an_over_long_message_keeps_its_text_and_says_the_limit(
    alice: User, alice_client: Client, settings: Any
) -> None:
    settings.CHAT_MESSAGE_MAX_CHARS = 50
    chat = factories.conversation(alice)

    response = alice_client.post(f"/c/{chat.pk}/messages", {"content": "y" * 60})

    body = response.content.decode()
    assert response.status_code == 422
    assert "the limit is 50" in body
    assert "y" * 60 in body  # nothing the user typed is lost


def test_sending_returns_both_bubbles_with_the_users_text_escaped(
    alice: User, alice_client: Client
) -> None:
    chat = factories.conversation(alice)

    response = alice_client.post(
        f"/c/{chat.pk}/messages", {"content": "<script>alert(1)</script>"}, HTTP_HX_REQUEST="true"
    )

    body = response.content.decode()
    answer = Message.objects.get(role="assistant")
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert" not in body
    assert f'id="stream-{answer.pk}"' in body


def test_the_welcome_page_starts_a_conversation(alice_client: Client) -> None:
    response = alice_client.post("/c/start", {"content": "Hello"}, HTTP_HX_REQUEST="true")

    chat = Conversation.objects.get()
    assert response["HX-Redirect"] == chat.get_absolute_url()
    assert chat.messages.count() == 2


def test_rename_updates_the_header_and_the_sidebar_entry(alice: User, alice_client: Client) -> None:
    chat = factories.conversation(alice)

    response = alice_client.post(f"/c/{chat.pk}/rename", {"title": "Holiday"})

    body = response.content.decode()
    assert f'id="title-{chat.pk}"' in body and "Holiday" in body
    assert f'id="conv-{chat.pk}"' in body and 'hx-swap-oob="outerHTML"' in body


def test_setup_page_needs_the_printed_token(client: Client) -> None:
    token = setup_token_create()
    assert token is not None

    assert client.get("/setup/not-the-token/").status_code == 404
    assert client.get(f"/setup/{token}/").status_code == 200

    response = client.post(
        f"/setup/{token}/",
        {"username": "owner", "password1": "a-long-password-1", "password2": "a-long-password-1"},
    )
    assert response.status_code == 302
    assert User.objects.get().is_staff
    assert client.get(f"/setup/{token}/").status_code == 404


def test_only_staff_can_add_members(alice_client: Client, client: Client) -> None:
    assert alice_client.get("/members/").status_code == 403

    owner = factories.user("owner", is_staff=True)
    client.force_login(owner)
    response = client.post(
        "/members/",
        {"username": "kid", "password1": "a-long-password-1", "password2": "a-long-password-1"},
    )
    assert response.status_code == 302
    assert User.objects.filter(username="kid", is_staff=False).exists()


def test_the_model_help_page_shows_the_readme_section(alice_client: Client) -> None:
    body = alice_client.get("/help/models").content.decode()

    assert "LLM_MODEL_PATH" in body


def test_undo_of_a_changeset_from_the_notice(alice: User, alice_client: Client, bob: User) -> None:
    from memoryapp.models import Fact, MemoryChangeset
    from memoryapp.services.memory.journal import Journal

    journal = Journal(owner=alice, source=MemoryChangeset.Source.CONSOLIDATION)
    fact = Fact.objects.create(owner=alice, text="Alice likes tea.")
    journal.record(fact=fact, action="add", before=None)  # type: ignore[arg-type]
    changeset = journal.commit()
    assert changeset is not None
    bob_client = Client()
    bob_client.force_login(bob)

    assert bob_client.post(f"/memory/changesets/{changeset.pk}/undo").status_code == 404
    response = alice_client.post(f"/memory/changesets/{changeset.pk}/undo")

    assert response.status_code == 200
    assert "undone" in response.content.decode()
    assert not Fact.objects.filter(owner=alice).exists()
    again = alice_client.post(f"/memory/changesets/{changeset.pk}/undo")
    assert again.status_code == 409 and "undone already" in again.content.decode()
