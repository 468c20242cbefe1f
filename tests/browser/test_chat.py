"""Chatting in the browser: the keyboard, streamed answers from the real model, Stop, and
messages the composer refuses."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.models import Conversation, Message
from memoryapp.services.conversations import conversation_create
from tests.support.browser import (
    PHONE_VIEWPORT,
    answer_id,
    collapse_spaces,
    screenshot,
    sign_in,
    sign_in_with_cookie,
    streamed_text,
    wait_until_finished,
    wait_until_live,
)
from tests.support.live_stack import LiveStack
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
STORY_REQUEST = "Write a long story about a lighthouse keeper who befriends a whale."

# The real model's tests come first, Stop first of all: a stopped answer gets no suggested
# title, so the worker is free for the next answer at once.


@pytest.mark.integration
def test_stop_ends_the_answer_and_keeps_what_was_written(
    stack: LiveStack, llm_worker: WorkerProcess, page: Page
) -> None:
    user = User.objects.create_user("bob")
    conversation = conversation_create(owner=user)
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(conversation.get_absolute_url())
    wait_until_live(page)

    page.locator("#composer textarea").fill(STORY_REQUEST)
    page.keyboard.press("Enter")
    answer = answer_id(page)
    partial = streamed_text(page, answer)
    page.locator(f"#msg-{answer}").get_by_role("button", name="Stop").click()

    bubble = page.locator(f"#msg-{answer}")
    expect(bubble).to_have_class(re.compile(r"\bstatus-stopped\b"))
    expect(bubble.locator(".msg-note")).to_have_text("Stopped.")
    assert bubble.locator(".msg-body").inner_text().strip()
    stored = Message.objects.get(pk=answer)
    assert stored.status == Message.Status.STOPPED
    assert collapse_spaces(stored.content).startswith(collapse_spaces(partial))
    assert stored.token_count is not None
    assert stored.token_count < int(stack.settings_env["CHAT_ANSWER_MAX_TOKENS"])


@pytest.mark.integration
def test_enter_sends_the_answer_streams_and_the_exchange_is_stored_once(
    stack: LiveStack, llm_worker: WorkerProcess, page: Page
) -> None:
    User.objects.create_user("alice", password=PASSWORD)
    sign_in(page, "alice", PASSWORD)
    page.get_by_role("button", name="+ New conversation").click()
    page.wait_for_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    wait_until_live(page)
    composer = page.locator("#composer textarea")
    expect(composer).to_be_focused()

    page.keyboard.type("Write a long story about a lighthouse keeper")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("who befriends a whale.")
    expect(composer).to_have_value(
        "Write a long story about a lighthouse keeper\nwho befriends a whale."
    )
    expect(page.locator("#messages article")).to_have_count(0)
    page.keyboard.press("Enter")

    answer = answer_id(page)
    expect(composer).to_have_value("")
    expect(composer).to_be_focused()
    streamed = streamed_text(page, answer)
    screenshot(page, "chat-streaming")
    wait_until_finished(page, answer)
    expect(page.locator(f"#msg-{answer}")).to_have_class(re.compile(r"\bstatus-done\b"))
    screenshot(page, "chat-finished")

    stored = Message.objects.get(pk=answer)
    assert stored.status == Message.Status.DONE
    # What streamed is the beginning of what was saved: no piece lost, none out of order.
    assert collapse_spaces(stored.content).startswith(collapse_spaces(streamed))
    question_text = page.locator("#messages .msg-user .msg-body").inner_text()
    answer_text = page.locator("#messages .msg-assistant .msg-body").inner_text()
    assert stored.reply_to is not None
    assert (
        stored.reply_to.content
        == "Write a long story about a lighthouse keeper\nwho befriends a whale."
    )
    # Markdown shows a single line break as a space.
    assert question_text == "Write a long story about a lighthouse keeper who befriends a whale."
    assert answer_text.strip()

    page.reload()
    expect(page.locator("#messages .msg-user")).to_have_count(1)
    expect(page.locator("#messages .msg-assistant")).to_have_count(1)
    assert page.locator("#messages .msg-user .msg-body").inner_text() == question_text
    assert page.locator("#messages .msg-assistant .msg-body").inner_text() == answer_text
    page.set_viewport_size(PHONE_VIEWPORT)
    page.reload()  # no sidebar caught sliding away
    screenshot(page, "chat-phone")


def test_an_empty_message_is_refused_next_to_the_composer(stack: LiveStack, page: Page) -> None:
    user = User.objects.create_user("carol")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto("/")
    composer = page.locator("#composer textarea")
    error = page.locator("#composer-error")

    composer.press_sequentially("   ")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        composer.press("Enter")
    assert refused.value.status == 422
    expect(error).to_have_text("Write a message first.")
    expect(composer).to_be_focused()

    page.reload()
    expect(error).to_have_text("")
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.get_by_role("button", name="Send").click()
    assert refused.value.status == 422
    expect(error).to_have_text("Write a message first.")

    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_an_over_long_message_is_refused_and_kept_for_editing(stack: LiveStack, page: Page) -> None:
    user = User.objects.create_user("dave")
    conversation = conversation_create(owner=user)
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(conversation.get_absolute_url())
    composer = page.locator("#composer textarea")
    limit = int(stack.settings_env["CHAT_MESSAGE_MAX_CHARS"])
    expect(composer).to_have_attribute("maxlength", str(limit))

    too_long = limit + 50
    # maxlength stops typing; a paste or a script can still get past it.
    composer.evaluate("(input, length) => { input.value = 'x'.repeat(length); }", too_long)
    composer.press("Enter")

    expect(page.locator("#composer-error")).to_have_text(
        f"This message has {too_long} characters; the limit is {limit}. "
        "Split it into several messages."
    )
    expect(composer).to_have_value("x" * too_long)
    expect(composer).to_be_focused()
    expect(page.locator("#messages article")).to_have_count(0)
    assert not Message.objects.exists()
