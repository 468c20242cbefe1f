"""Failed requests in the browser: said next to what failed, the typed text kept, and a
"Try again" that sends it again once the server is back.

The failures are made by intercepting the request in the browser (Playwright's `page.route`):
the server's own 500, its 503 while the database is down (tests/test_database_outage.py shows
the server answers it), and a connection that fails. Try again then reaches the real server.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, Route, expect

from memoryapp.middleware import DATABASE_UNAVAILABLE
from memoryapp.models import Conversation, Message
from tests import factories
from tests.support.browser import sign_in_with_cookie, wait_until_live
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.browser

TEXT = "Remember that my locker code is 4512.\nAnd that the gym closes at nine."


def _open_conversation(stack: LiveStack, page: Page, username: str) -> Conversation:
    user = User.objects.create_user(username)
    conversation = factories.conversation(user, title="Gym")
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto(conversation.get_absolute_url())
    wait_until_live(page)
    return conversation


def _server_error(route: Route) -> None:
    route.fulfill(status=500, content_type="text/html", body="<h1>Server Error (500)</h1>")


def _database_down(route: Route) -> None:
    route.fulfill(status=503, content_type="text/plain; charset=utf-8", body=DATABASE_UNAVAILABLE)


def _unreachable(route: Route) -> None:
    route.abort("connectionrefused")


def _send_failing(page: Page, conversation: Conversation, failure: object) -> str:
    """Send TEXT while the server answers with `failure`; returns the sending URL pattern."""
    url = f"**/c/{conversation.pk}/messages"
    page.route(url, failure)  # type: ignore[arg-type]
    page.locator("#composer textarea").fill(TEXT)
    page.keyboard.press("Enter")
    return url


def _try_again_sends_it(page: Page, conversation: Conversation, url: str) -> None:
    page.unroute(url)
    composer = page.locator("#composer textarea")
    page.locator("#composer-error").get_by_role("button", name="Try again").click()

    expect(page.locator("#messages .msg-user .msg-body")).to_have_text(TEXT)
    expect(composer).to_have_value("")
    expect(page.locator("#composer-error")).to_have_text("")
    question = Message.objects.get(conversation=conversation, role=Message.Role.USER)
    assert question.content == TEXT


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (_server_error, "Your message was not sent. The server failed (error 500)."),
        (_database_down, f"Your message was not sent. {DATABASE_UNAVAILABLE}"),
        (_unreachable, "Your message was not sent. The server could not be reached"),
    ],
    ids=["server-error", "database-down", "unreachable"],
)
def test_a_failed_send_says_so_under_the_composer_keeps_the_text_and_tries_again(
    stack: LiveStack, page: Page, failure: object, said: str
) -> None:
    conversation = _open_conversation(stack, page, "kim")

    url = _send_failing(page, conversation, failure)

    error = page.locator("#composer-error")
    expect(error).to_contain_text(said)
    expect(error.get_by_role("button", name="Try again")).to_be_visible()
    expect(page.locator("#composer textarea")).to_have_value(TEXT)
    expect(page.locator("#messages article")).to_have_count(0)
    assert not Message.objects.exists()
    _try_again_sends_it(page, conversation, url)


def test_the_failure_text_goes_in_as_text(stack: LiveStack, page: Page) -> None:
    conversation = _open_conversation(stack, page, "lee")
    markup = '<img src="x" onerror="window.__injected = 1">Down.'

    page.route(
        f"**/c/{conversation.pk}/messages",
        lambda route: route.fulfill(status=503, content_type="text/plain", body=markup),
    )
    page.locator("#composer textarea").fill("Hello?")
    page.keyboard.press("Enter")

    expect(page.locator("#composer-error")).to_contain_text(markup)
    expect(page.locator("#composer-error img")).to_have_count(0)
    assert page.evaluate("window.__injected") is None


def test_a_failed_rename_says_so_beside_the_form_and_tries_again(
    stack: LiveStack, page: Page
) -> None:
    conversation = _open_conversation(stack, page, "max")
    url = f"**/c/{conversation.pk}/rename"
    page.route(url, _unreachable)

    page.get_by_text("Rename").click()
    title = page.get_by_label("New title")
    title.fill("Gym and lockers")
    page.get_by_role("button", name="Save").click()

    form = page.locator("#title-header form")
    expect(form.locator(".request-error")).to_contain_text("The server could not be reached")
    expect(title).to_have_value("Gym and lockers")
    page.unroute(url)
    form.get_by_role("button", name="Try again").click()
    expect(page.locator(".conversation-title")).to_have_text("Gym and lockers")
    conversation.refresh_from_db()
    assert conversation.title == "Gym and lockers"


def test_a_refused_message_still_replaces_the_composer_with_its_error(
    stack: LiveStack, page: Page
) -> None:
    _open_conversation(stack, page, "ned")

    page.locator("#composer textarea").fill("   ")
    page.keyboard.press("Enter")

    expect(page.locator("#composer-error")).to_have_text("Write a message first.")
    expect(page.locator("#composer-error").get_by_role("button")).to_have_count(0)


def test_the_websocket_tries_again_within_a_second_and_backs_off(
    stack: LiveStack, page: Page
) -> None:
    _open_conversation(stack, page, "olga")

    delays = page.evaluate("[0, 1, 2, 3, 4, 5, 10, 20].map((n) => htmx.config.wsReconnectDelay(n))")

    assert delays[0] < 1000
    assert delays[1] < 1000
    assert max(delays) <= 5000
    assert delays[-1] > 2000


def test_an_answer_no_worker_has_taken_says_it_is_queued(stack: LiveStack, page: Page) -> None:
    # As one sent while the broker was down: stored, pending, its job not queued yet.
    user = User.objects.create_user("pat")
    conversation = factories.conversation(user)
    question = factories.message(conversation, "Are you there?")
    answer = factories.message(
        conversation, "", role=Message.Role.ASSISTANT, reply_to=question, status="pending"
    )
    sign_in_with_cookie(page.context, stack.url, user)

    page.goto(conversation.get_absolute_url())

    # Said by the stylesheet, where the bubble says "Thinking…" once a worker has it.
    page.wait_for_function(
        """(id) => getComputedStyle(document.getElementById("stream-" + id), "::before")
            .content === '"Queued: waiting for the chat worker…"'""",
        arg=str(answer.pk),
    )
