"""The page's websocket: how streamed answers and sidebar updates reach an open tab."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page

from memoryapp.services.conversations import conversation_create
from tests.support.browser import (
    answer_id,
    collapse_spaces,
    sign_in_with_cookie,
    streamed_text,
    wait_until_finished,
    wait_until_live,
)
from tests.support.live_stack import LiveStack
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.browser

# channels_redis waits for a message with BZPOPMIN for 5 seconds at a time, and redis-py 8
# gives up reading after 5 seconds unless told otherwise (CHANNEL_LAYERS in settings).
IDLE_SECONDS = 7


def test_an_idle_tab_keeps_its_websocket(stack: LiveStack, page: Page) -> None:
    user = User.objects.create_user("ivan")
    conversation = conversation_create(owner=user)
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(conversation.get_absolute_url())
    wait_until_live(page)

    page.wait_for_timeout(IDLE_SECONDS * 1000)

    assert page.evaluate("[window.__wsOpens, window.__wsCloses]") == [1, 0]


def test_a_page_loaded_while_an_answer_streams_shows_it_without_gaps(
    stack: LiveStack, scripted_worker: Callable[..., WorkerProcess], page: Page
) -> None:
    words = " ".join(f"word{number}" for number in range(150))
    scripted_worker([words], delay=0.03)
    user = User.objects.create_user("judy")
    conversation = conversation_create(owner=user)
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(conversation.get_absolute_url())
    wait_until_live(page)
    page.locator("#composer textarea").fill("Count for me, please.")
    page.keyboard.press("Enter")
    answer = answer_id(page)
    streamed_text(page, answer)
    page.wait_for_timeout(1500)  # the worker has saved its progress at least once

    page.reload()
    wait_until_live(page)
    page.wait_for_timeout(500)
    shown = streamed_text(page, answer)
    wait_until_finished(page, answer)

    assert words.startswith(collapse_spaces(shown)), f"the page showed {shown!r}"
