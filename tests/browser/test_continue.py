"""An answer cut at the token cap says so, and Continue extends it in place."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.models import Message
from tests import factories
from tests.browser.conftest import ANSWER_MAX_TOKENS
from tests.support.browser import (
    answer_id,
    collapse_spaces,
    screenshot,
    sign_in_with_cookie,
    wait_until_finished,
    wait_until_live,
)
from tests.support.live_stack import LiveStack
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.browser

# Longer than the cap: each "wN" is one token of the scripted model.
LONG = " ".join(f"w{n}" for n in range(ANSWER_MAX_TOKENS + 40))
REST = "and that is the whole story."


def test_a_cut_answer_is_continued_in_place(
    stack: LiveStack, scripted_worker: Callable[..., WorkerProcess], page: Page
) -> None:
    scripted_worker([LONG, REST], delay=0.01)
    user = User.objects.create_user("erin")
    # Titled already: no title is suggested, so the model's replies go to the answer.
    conversation = factories.conversation(user, title="Stories")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(conversation.get_absolute_url())
    wait_until_live(page)

    page.locator("#composer textarea").fill("Tell me a long story.")
    page.keyboard.press("Enter")
    answer = answer_id(page)
    wait_until_finished(page, answer)
    bubble = page.locator(f"#msg-{answer}")
    note = bubble.locator(".cut-note")
    expect(note).to_have_text(f"(answer cut at {ANSWER_MAX_TOKENS} tokens: Continue)")
    screenshot(page, "answer-cut")
    cut = Message.objects.get(pk=answer).content
    assert cut == " ".join(f"w{n}" for n in range(ANSWER_MAX_TOKENS))

    note.get_by_role("button", name="Continue").click()

    # While the rest is written the earlier text stays (the rest streams in below it); then
    # the whole answer is rendered as one.
    body = bubble.locator(".msg-body.markdown")
    expect(body).to_contain_text(f"w{ANSWER_MAX_TOKENS - 1} and that is the whole story.")
    expect(bubble).to_have_class(re.compile(r"\bstatus-done\b"))
    expect(bubble.locator(".msg-body")).to_have_count(1)
    expect(bubble.locator(".cut-note")).to_have_count(0)
    stored = Message.objects.get(pk=answer)
    assert stored.content == f"{cut} {REST}"
    assert stored.finish_reason == "stop"
    assert collapse_spaces(body.inner_text()) == f"{cut} {REST}"
    assert Message.objects.filter(conversation=conversation).count() == 2


def _open_cut_answer(stack: LiveStack, page: Page, username: str) -> Message:
    """A conversation of `username` ending in an answer cut at the cap, open in `page`."""
    user = User.objects.create_user(username)
    conversation = factories.conversation(user, title="Stories")
    question = factories.message(conversation, "Tell me a long story.")
    answer = factories.message(
        conversation,
        "Once upon a time",
        role=Message.Role.ASSISTANT,
        reply_to=question,
        finish_reason="length",
        token_count=ANSWER_MAX_TOKENS,
    )
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(conversation.get_absolute_url())
    wait_until_live(page)
    return answer


def test_a_refused_continue_says_why_in_the_answer(stack: LiveStack, page: Page) -> None:
    answer = _open_cut_answer(stack, page, "fred")
    # Another tab sends a message meanwhile: this answer is no longer the latest.
    factories.message(answer.conversation, "Never mind.")

    page.locator(f"#msg-{answer.pk}").get_by_role("button", name="Continue").click()

    expect(page.locator(f"#msg-{answer.pk} .msg-action-error")).to_have_text(
        "Only the latest answer, cut at the token limit, can be continued."
    )
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE


def test_continue_on_an_answer_deleted_meanwhile_says_so_in_words(
    stack: LiveStack, page: Page
) -> None:
    answer = _open_cut_answer(stack, page, "gina")
    Message.objects.filter(pk=answer.pk).delete()  # from another tab, say

    page.locator(f"#msg-{answer.pk}").get_by_role("button", name="Continue").click()

    # Not Django's 404 page as text: a sentence a person can act on.
    expect(page.locator(f"#msg-{answer.pk} .msg-action-error")).to_have_text(
        "This message is no longer there. Reload the page."
    )
