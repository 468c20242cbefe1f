"""Forgetting in the browser: the sidebar's Delete shows what the conversation's deletion
forgets before it does; on the Memory page, Forget of a fact and Forget everything show their
preview, then forget."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.models import Conversation, Fact, FactSource, Message
from tests import factories
from tests.support.browser import screenshot, sign_in_with_cookie
from tests.support.household import person_data
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.browser


def test_deleting_a_conversation_shows_what_it_forgets_then_forgets_it(
    stack: LiveStack, page: Page
) -> None:
    user = User.objects.create_user("grace")
    data = person_data(user, "gracemark")
    kept = factories.conversation(user, title="Honey")
    FactSource.objects.create(
        fact=data.fact, message=factories.message(kept, "The honey was great."), owner=user
    )
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(data.conversation.get_absolute_url())

    page.get_by_role("button", name="Delete", exact=True).click()

    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete “gracemark chat” and all of its messages?")
    expect(dialog.locator("#forget-messages")).to_have_text("2 messages")
    expect(dialog.locator("#forget-segments")).to_have_text("1 topic")
    expect(dialog.locator("#forget-facts")).to_have_text("0 facts")
    expect(dialog.locator(f"#kept-fact-{data.fact.pk}")).to_have_text(data.fact.text)
    screenshot(page, "forget-conversation-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert Conversation.objects.filter(pk=data.conversation.pk).exists()

    page.get_by_role("button", name="Delete", exact=True).click()
    page.locator("#delete-dialog").get_by_role("button", name="Delete conversation").click()

    expect(page.get_by_role("status")).to_contain_text(
        "Deleted “gracemark chat”. Forgotten with it: 2 messages, 1 topic"
    )
    assert not Conversation.objects.filter(pk=data.conversation.pk).exists()
    assert list(data.fact.source_messages.values_list("content", flat=True)) == [
        "The honey was great."
    ]


def test_forgetting_a_fact_from_the_memory_page_previews_then_forgets_it(
    stack: LiveStack, page: Page
) -> None:
    user = User.objects.create_user("heidi")
    data = person_data(user, "heidimark")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto("/memory/")
    expect(page.locator(".memory-profile")).to_have_text(data.profile.summary)
    expect(page.locator(f"#segment-{data.segment.pk}")).to_contain_text("heidimark bees")
    expect(page.locator(f"#fact-{data.old_fact.pk}")).to_contain_text(
        f"Replaced by: {data.fact.text}"
    )
    expect(page.locator("#import-section").get_by_role("button", name="Import")).to_be_visible()
    screenshot(page, "memory-page", full_page=True)

    page.locator(f"#fact-{data.fact.pk}").get_by_role("link", name="Forget").click()

    expect(page.get_by_text("Forget this fact?")).to_be_visible()
    expect(page.locator("blockquote")).to_have_text(data.fact.text)
    expect(page.locator("#forget-facts")).to_have_text("1 fact")
    expect(page.locator("#forget-messages")).to_have_text("0 messages")
    screenshot(page, "forget-fact-preview")
    page.get_by_role("button", name="Forget this fact").click()

    expect(page).to_have_url(f"{stack.url}/memory/")
    expect(page.get_by_role("status")).to_contain_text("Forgot a fact.")
    expect(page.locator(f"#fact-{data.fact.pk}")).to_have_count(0)
    assert not Fact.objects.filter(pk=data.fact.pk).exists()
    assert Message.objects.filter(owner=user).count() == 2


def test_forget_everything_previews_the_counts_then_leaves_an_empty_memory(
    stack: LiveStack, page: Page
) -> None:
    user = User.objects.create_user("ivan")
    person_data(user, "ivanmark")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto("/memory/")

    page.get_by_role("link", name="Forget everything…").click()

    expect(page.locator("#forget-conversations")).to_have_text("1 conversation")
    expect(page.locator("#forget-facts")).to_have_text("2 facts")
    screenshot(page, "forget-everything-preview")
    page.get_by_role("button", name="Forget everything").click()

    expect(page).to_have_url(f"{stack.url}/memory/")
    expect(page.get_by_role("status")).to_contain_text("Forgot everything.")
    expect(page.locator("main")).not_to_contain_text("ivanmark")
    assert not Conversation.objects.filter(owner=user).exists()
    assert not Fact.objects.filter(owner=user).exists()
