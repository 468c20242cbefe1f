"""An answer that waits behind another says so in its bubble, until its turn comes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from memoryapp.models import Conversation
from memoryapp.services.conversations import conversation_create, conversation_rename
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

# Long enough to be still streaming while the other tabs send their messages and look.
LONG_REPLY = " ".join(f"word{number}" for number in range(250))


def _titled(user: User, title: str) -> Conversation:
    # Titled already: no title job runs on the one worker between the answers.
    return conversation_rename(conversation=conversation_create(owner=user), title=title)


def _send(page: Page, conversation: Conversation, text: str) -> str:
    page.goto(conversation.get_absolute_url())
    wait_until_live(page)
    page.locator("#composer textarea").fill(text)
    page.keyboard.press("Enter")
    return answer_id(page)


def test_a_waiting_answer_says_how_many_are_ahead_as_the_queue_moves(
    stack: LiveStack, scripted_worker: Callable[..., WorkerProcess], page: Page
) -> None:
    scripted_worker([LONG_REPLY, LONG_REPLY, "Short."], delay=0.03)
    user = User.objects.create_user("wendy")
    sign_in_with_cookie(page.context, stack.url, user)
    first = _send(page, _titled(user, "first"), "Count for me, please.")
    streamed_text(page, first)
    second_tab, third_tab = page.context.new_page(), page.context.new_page()
    second = _send(second_tab, _titled(user, "second"), "And then this.")

    third = _send(third_tab, _titled(user, "third"), "And this too.")

    note = third_tab.locator(f"#waiting-{third}")
    expect(note).to_have_text("waiting: 2 answers ahead")
    placeholder = third_tab.locator(f"#stream-{third}")
    assert placeholder.evaluate("e => getComputedStyle(e, '::before').content") == "none"
    expect(second_tab.locator(f"#waiting-{second}")).to_have_text("waiting: 1 answer ahead")
    expect(note).to_have_text("waiting: 1 answer ahead", timeout=30_000)  # the first is done
    expect(note).to_have_count(0, timeout=30_000)  # its turn: the note goes
    for tab, answer in ((page, first), (second_tab, second), (third_tab, third)):
        wait_until_finished(tab, answer)
    second_tab.close()
    third_tab.close()
