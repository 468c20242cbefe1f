"""Markup in messages and model answers is shown as text and never runs, live or reloaded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, Request, expect

from memoryapp.services.conversations import conversation_create
from tests.support.browser import (
    answer_id,
    sign_in_with_cookie,
    streamed_text,
    wait_until_finished,
    wait_until_live,
)
from tests.support.live_stack import LiveStack
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.browser

QUESTION = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
ANSWER = '<img src=x onerror="window.__xss=3"><script>window.__xss=4</script>'
# The worker asks the model for a title after the first answer: it goes to the sidebar.
TITLE = '<img src=x onerror="window.__xss=5">'
# Words after the markup keep the answer streaming for a while (one piece per word).
ANSWER_TAIL = " and then a few more words so that the answer is still streaming for a bit."


def _assert_nothing_ran(page: Page, image_requests: list[str]) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("#messages script, #messages img, .sidebar img").count() == 0
    assert image_requests == []


def test_markup_in_messages_and_answers_stays_text(
    stack: LiveStack, scripted_worker: Callable[..., WorkerProcess], page: Page
) -> None:
    scripted_worker([ANSWER + ANSWER_TAIL, TITLE], delay=0.1)
    user = User.objects.create_user("mallory")
    conversation = conversation_create(owner=user)
    sign_in_with_cookie(page.context, stack.url, user)
    # An <img src=x> that made it into the page would request ".../x".
    image_requests: list[str] = []

    def record(request: Request) -> None:
        if request.url.endswith("/x"):
            image_requests.append(request.url)

    page.on("request", record)
    page.goto(conversation.get_absolute_url())
    wait_until_live(page)
    expect(page.locator("#model-status")).to_contain_text("Answers by scripted")

    page.locator("#composer textarea").fill(QUESTION)
    page.keyboard.press("Enter")
    answer = answer_id(page)
    expect(page.locator("#messages .msg-user .msg-body")).to_have_text(QUESTION)

    # While streaming: the pieces are text nodes in the placeholder.
    page.wait_for_function(
        "([id, text]) => document.getElementById('stream-' + id)?.textContent.includes(text)",
        arg=[answer, ANSWER],
    )
    assert ANSWER in streamed_text(page, answer)
    assert page.locator(f"#stream-{answer} *").count() == 0
    _assert_nothing_ran(page, image_requests)

    # Finished: rendered once by the server, as Markdown without raw HTML.
    wait_until_finished(page, answer)
    body = page.locator(f"#msg-{answer} .msg-body")
    expect(body).to_have_text(ANSWER + ANSWER_TAIL)
    expect(page.locator(f"#conv-{conversation.pk}")).to_have_text(TITLE)
    expect(page.locator("h1.conversation-title")).to_have_text(TITLE)
    _assert_nothing_ran(page, image_requests)

    page.reload()
    expect(page.locator("#messages .msg-user .msg-body")).to_have_text(QUESTION)
    expect(body).to_have_text(ANSWER + ANSWER_TAIL)
    expect(page.locator(f"#conv-{conversation.pk}")).to_have_text(TITLE)
    expect(page.locator("h1.conversation-title")).to_have_text(TITLE)
    expect(body).to_be_visible()
    _assert_nothing_ran(page, image_requests)
