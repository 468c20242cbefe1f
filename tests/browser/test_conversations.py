"""Renaming and deleting conversations, and nobody else's conversations, in the browser."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.models import Conversation, Message
from memoryapp.services.conversations import conversation_create
from tests.support.browser import sign_in_with_cookie
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.browser

# Opens a websocket from the page; resolves with whether it opened and how it closed.
_TRY_WEBSOCKET = """
(url) => new Promise((resolve) => {
  let opened = false;
  const socket = new WebSocket(url);
  socket.onopen = () => { opened = true; };
  socket.onclose = (event) => resolve({opened, code: event.code});
})
"""


def test_rename_updates_the_header_and_the_sidebar_without_a_reload(
    stack: LiveStack, page: Page
) -> None:
    user = User.objects.create_user("erin")
    conversation = conversation_create(owner=user)
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(conversation.get_absolute_url())
    expect(page.locator("h1.conversation-title")).to_have_text("New conversation")
    page.evaluate("window.__sameDocument = true")

    page.locator("details.rename summary").click()
    page.get_by_label("New title").fill("Holiday plans")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("h1.conversation-title")).to_have_text("Holiday plans")
    expect(page.locator(f"#conv-{conversation.pk}")).to_have_text("Holiday plans")
    assert page.evaluate("window.__sameDocument") is True
    conversation.refresh_from_db()
    assert (conversation.title, conversation.title_is_custom) == ("Holiday plans", True)


def test_delete_asks_first_then_removes_the_conversation(stack: LiveStack, page: Page) -> None:
    user = User.objects.create_user("frank")
    kept = Conversation.objects.create(owner=user, title="Keep me")
    doomed = Conversation.objects.create(owner=user, title="Delete me")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(doomed.get_absolute_url())
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_hidden()

    page.get_by_role("button", name="Delete", exact=True).click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete “Delete me” and all of its messages?")
    dialog.get_by_role("button", name="Delete conversation").click()

    expect(page).to_have_url(f"{stack.url}{kept.get_absolute_url()}")
    expect(page.get_by_role("status")).to_contain_text("Deleted “Delete me”.")
    expect(page.locator(f"#conv-{doomed.pk}")).to_have_count(0)
    expect(page.locator(f"#conv-{kept.pk}")).to_have_text("Keep me")
    assert not Conversation.objects.filter(pk=doomed.pk).exists()
    gone = page.goto(doomed.get_absolute_url())
    assert gone is not None and gone.status == 404


def test_another_user_cannot_reach_the_conversation(stack: LiveStack, page: Page) -> None:
    alice = User.objects.create_user("alice")
    private = Conversation.objects.create(owner=alice, title="Alice's private plans")
    said = Message.objects.create(
        conversation=private, owner=alice, role=Message.Role.USER, content="secret", sequence=0
    )
    bob = User.objects.create_user("bob")
    Conversation.objects.create(owner=bob, title="Bob's own")
    sign_in_with_cookie(page.context, stack.url, bob)

    page.goto("/")
    sidebar = page.locator("#conversation-list")
    expect(sidebar).to_contain_text("Bob's own")
    expect(sidebar).not_to_contain_text("Alice")
    page.get_by_label("Search conversations").fill("private plans")
    expect(sidebar).to_contain_text("No conversation matches")

    for path in (private.get_absolute_url(), f"/m/{said.pk}/"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
    socket: Any = page.evaluate(
        _TRY_WEBSOCKET, f"ws://127.0.0.1:{stack.server.port}/ws/c/{private.pk}/"
    )
    assert socket["opened"] is False
