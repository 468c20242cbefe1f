"""The memory under an answer: every unit it had in context ("Memory used"), chips for the
cited ones, each opening the message it came from, highlighted."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.models import Citation, Conversation, Message
from memoryapp.services.conversations import conversation_create
from memoryapp.services.memory.consolidation import segment_consolidate
from tests import factories
from tests.support.browser import (
    answer_id,
    screenshot,
    sign_in_with_cookie,
    wait_until_finished,
    wait_until_live,
)
from tests.support.live_stack import LiveStack
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.browser


SISTER = "My sister Mia is getting married in Porto in September."


def _remembered_wedding(name: str) -> tuple[User, Conversation, Message]:
    """A user whose earlier conversation, consolidated into memory, tells of the wedding."""
    user = User.objects.create_user(name)
    earlier = factories.conversation(user, title="Family news")
    for n in range(12):
        factories.message(
            earlier,
            f"Filler line number {n} about the weather.",
            created_at=datetime(2024, 4, 1, tzinfo=UTC),
        )
    said = factories.message(
        earlier, SISTER, speaker=name, created_at=datetime(2024, 4, 2, tzinfo=UTC)
    )
    segment_consolidate(segment_id=factories.closed_segment(earlier, [said]).pk)
    return user, earlier, said


def _ask(stack: LiveStack, page: Page, user: User, question: str) -> tuple[Conversation, str]:
    today = conversation_create(owner=user)
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(today.get_absolute_url())
    wait_until_live(page)
    page.locator("#composer textarea").fill(question)
    page.keyboard.press("Enter")
    answer = answer_id(page)
    wait_until_finished(page, answer)
    return today, answer


def _expect_opened_highlighted(page: Page, earlier: Conversation, said: Message) -> None:
    page.wait_for_url(f"**{earlier.get_absolute_url()}**")
    source = page.locator(f"#msg-{said.pk}")
    expect(source).to_have_class(re.compile(r"\bhighlight\b"))
    expect(source).to_be_in_viewport()


def test_memory_used_lists_the_context_of_an_answer_without_citations(
    stack: LiveStack, scripted_worker: Callable[..., WorkerProcess], page: Page, settings: Any
) -> None:
    settings.MEMORY_LLM = "off"
    user, earlier, said = _remembered_wedding("dora")
    scripted_worker(["Your sister's wedding is in Porto, in September."])

    today, answer = _ask(stack, page, user, "Where is my sister's wedding?")

    bubble = page.locator(f"#msg-{answer}")
    expect(bubble.locator(".chip")).to_have_count(0)  # the model cited nothing
    used = bubble.locator("details.memory-used")
    units = used.locator("li.memory-unit")
    expect(used).not_to_have_attribute("open", "")
    count = Citation.objects.filter(answer_id=UUID(answer)).count()
    assert count >= 1
    expect(used.locator("summary")).to_have_text(f"Memory used ({count})")
    expect(units).to_have_count(count)
    expect(units.first).not_to_be_visible()  # closed by default
    expect(bubble.locator(".badge")).to_have_count(0)

    used.locator("summary").click()
    unit = units.filter(has_text="My sister Mia is getting married in Porto…")
    expect(unit).to_have_count(1)
    expect(unit).to_contain_text("Apr 2, 2024")
    screenshot(page, "memory-used")
    page.reload()  # and it is there on reload, rendered with the page
    wait_until_live(page)
    page.locator(f"#msg-{answer} details.memory-used summary").click()
    page.locator(f"#msg-{answer} li.memory-unit a", has_text="My sister Mia").click()

    _expect_opened_highlighted(page, earlier, said)
    assert Message.objects.filter(owner=user).count() == 15
    assert today.messages.count() == 2


def test_a_citation_chip_opens_the_source_message(
    stack: LiveStack, scripted_worker: Callable[..., WorkerProcess], page: Page, settings: Any
) -> None:
    settings.MEMORY_LLM = "off"
    user, earlier, said = _remembered_wedding("carol")
    scripted_worker(["Mia's wedding is in Porto [1]."])

    _, answer = _ask(stack, page, user, "Where is my sister's wedding?")

    chip = page.locator(f"#msg-{answer} .chip")
    expect(chip).to_have_text("[1] My sister Mia is getting married in Porto… · Apr 2, 2024")
    expect(page.locator(f"#msg-{answer} li.memory-unit.is-cited .badge")).to_have_text("cited")

    chip.click()

    _expect_opened_highlighted(page, earlier, said)
    assert Message.objects.filter(owner=user).count() == 15
