"""Incognito, pause and search over memory, in Chromium: making a conversation incognito
from the chat header (after a warning, when it has memory to forget), starting one
incognito, pausing memory from the header and resuming it on the Memory page, and searching
memory there (an empty search said inline)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Dialog, Page, expect

from memoryapp.models import Conversation, Message, Segment
from memoryapp.services.memory.ingestion import conversation_ingest
from memoryapp.services.memory.privacy import memory_paused
from tests import factories
from tests.support.browser import screenshot, sign_in_with_cookie
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.browser


def _remembered(owner: User, line: str) -> Conversation:
    chat = factories.conversation(owner, title="My sister")
    factories.exchange(chat, line, "How nice!")
    conversation_ingest(conversation_id=chat.pk, final=True)
    return chat


def test_make_a_conversation_incognito_then_start_one(stack: LiveStack, page: Page) -> None:
    user = User.objects.create_user("iris")
    chat = _remembered(user, "My sister Ingrid moved to Lisbon last spring.")
    assert Segment.objects.filter(conversation=chat).exists()
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(chat.get_absolute_url())

    switch = page.get_by_role("switch", name="Don't remember this conversation")
    expect(switch).to_have_attribute("aria-checked", "false")
    warnings: list[str] = []

    def accept(dialog: Dialog) -> None:
        warnings.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("#incognito-switch")).to_contain_text(
        "nothing said here is remembered, and what was learned from it is forgotten"
    )
    screenshot(page, "chat-incognito-on")
    assert warnings and "What was learned from it will be forgotten." in warnings[0]
    assert not Segment.objects.filter(conversation=chat).exists()
    assert not Message.objects.filter(conversation=chat, private=False).exists()

    page.get_by_label("Don't remember it").check()
    page.get_by_role("button", name="+ New conversation").click()
    expect(page.get_by_role("switch", name="Don't remember this conversation")).to_have_attribute(
        "aria-checked", "true"
    )
    assert Conversation.objects.filter(owner=user, incognito=True).count() == 2


def test_pause_memory_from_the_chat_and_resume_it_on_the_memory_page(
    stack: LiveStack, page: Page
) -> None:
    user = User.objects.create_user("paula")
    chat = factories.conversation(user, title="Anything")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(chat.get_absolute_url())

    page.get_by_role("switch", name="Pause memory").click()
    expect(page.locator("#memory-pause")).to_contain_text("Memory is paused")
    screenshot(page, "chat-memory-paused")
    assert memory_paused(owner=user)

    page.goto("/memory/")
    switch = page.get_by_role("switch", name="Pause memory")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(page.locator("#memory-pause")).not_to_contain_text("Memory is paused")
    assert not memory_paused(owner=user)


def test_search_memory_on_the_memory_page(stack: LiveStack, page: Page) -> None:
    user = User.objects.create_user("sam")
    chat = _remembered(user, "My sister Ingrid moved to Lisbon last spring.")
    said = Message.objects.get(conversation=chat, role="user")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto("/memory/")

    search = page.get_by_role("searchbox", name="Search your memory")
    search.fill("Where did my sister Ingrid move?")
    search.press("Enter")
    results = page.locator("#memory-search-results")
    expect(results).to_contain_text("[1]")
    expect(results).to_contain_text("Lisbon")
    results.get_by_text("Learned from").first.click()
    expect(results.locator(f'a[href*="highlight={said.pk}"]')).to_be_visible()
    page.locator("#memory-search").evaluate("section => section.scrollIntoView()")
    screenshot(page, "memory-search")

    search.fill("   ")
    page.get_by_role("button", name="Search").click()
    expect(results.get_by_role("alert")).to_have_text("Type what to look for in your memory.")
