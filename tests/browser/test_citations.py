"""A cited memory chip under an answer opens the message it came from, highlighted."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.models import Message
from memoryapp.services.conversations import conversation_create
from memoryapp.services.memory.consolidation import segment_consolidate
from tests import factories
from tests.support.browser import (
    answer_id,
    sign_in_with_cookie,
    wait_until_finished,
    wait_until_live,
)
from tests.support.live_stack import LiveStack
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.browser


def test_a_citation_chip_opens_the_source_message(
    stack: LiveStack, scripted_worker: Callable[..., WorkerProcess], page: Page, settings: Any
) -> None:
    settings.MEMORY_LLM = "off"
    user = User.objects.create_user("carol")
    earlier = factories.conversation(user, title="Family news")
    for n in range(12):
        factories.message(
            earlier,
            f"Filler line number {n} about the weather.",
            created_at=datetime(2024, 4, 1, tzinfo=UTC),
        )
    said = factories.message(
        earlier, "My sister Mia is getting married in Porto in September.", speaker="carol",
        created_at=datetime(2024, 4, 2, tzinfo=UTC),
    )  # fmt: skip
    segment_consolidate(segment_id=factories.closed_segment(earlier, [said]).pk)
    scripted_worker(["Mia's wedding is in Porto [1].", "Wedding"])
    today = conversation_create(owner=user)
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(today.get_absolute_url())
    wait_until_live(page)

    page.locator("#composer textarea").fill("Where is my sister's wedding?")
    page.keyboard.press("Enter")
    answer = answer_id(page)
    wait_until_finished(page, answer)
    chip = page.locator(f"#msg-{answer} .chip")
    expect(chip).to_have_text("[1] Apr 2, 2024")

    chip.click()

    page.wait_for_url(f"**{earlier.get_absolute_url()}**")
    source = page.locator(f"#msg-{said.pk}")
    expect(source).to_have_class(re.compile(r"\bhighlight\b"))
    expect(source).to_be_in_viewport()
    assert Message.objects.filter(owner=user).count() == 15
