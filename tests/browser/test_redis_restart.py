"""A tab across a Redis restart: its websocket comes back by itself, soon after Redis does,
and an answer that finished while it was away shows its final text.

The web server here has a Redis of its own (the package's stack shares the test run's), which
the test really stops and starts again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from memoryapp.devstack.services import EmbeddedRedis
from memoryapp.models import Message
from memoryapp.services.conversations import conversation_create
from tests import factories
from tests.support.browser import WEBSOCKET_TRACKER, sign_in_with_cookie, wait_until_live
from tests.support.webserver import WebServer

pytestmark = pytest.mark.browser


@pytest.fixture
def web(own_redis: EmbeddedRedis, django_db_setup: None) -> Iterator[WebServer]:
    server = WebServer(env={"REDIS_URL": own_redis.url()}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tab(browser: Browser, web: WebServer, transactional_db: None) -> Iterator[Page]:
    context = browser.new_context(base_url=web.url)
    context.set_default_timeout(15_000)
    context.add_init_script(WEBSOCKET_TRACKER)
    page = context.new_page()
    yield page
    context.close()


def test_after_redis_restarts_the_tab_reconnects_and_shows_what_finished_meanwhile(
    web: WebServer, own_redis: EmbeddedRedis, tab: Page
) -> None:
    user = User.objects.create_user("pia")
    conversation = conversation_create(owner=user)
    question = factories.message(conversation, "Where did I park?")
    answer = factories.message(
        conversation,
        "Level",
        role=Message.Role.ASSISTANT,
        reply_to=question,
        status=Message.Status.STREAMING,
        in_flight_since=timezone.now(),
    )
    sign_in_with_cookie(tab.context, web.url, user)
    tab.goto(conversation.get_absolute_url())
    wait_until_live(tab)

    own_redis.stop()
    tab.wait_for_function("() => window.__wsCloses >= 1")
    # The answer ends while no socket listens.
    Message.objects.filter(pk=answer.pk).update(
        status=Message.Status.DONE,
        content="Level 2, row C.",
        finished_at=timezone.now(),
        in_flight_since=None,
    )
    tab.wait_for_timeout(3000)  # a few failed attempts: the back-off grows meanwhile
    own_redis.start()
    back = time.monotonic()
    tab.wait_for_function("() => window.__wsOpen === true")
    print(f"websocket open again {time.monotonic() - back:.1f}s after Redis")

    bubble = tab.locator(f"#msg-{answer.pk}")
    expect(bubble).to_have_class(re.compile(r"\bstatus-done\b"))
    expect(bubble.locator(".msg-body")).to_have_text("Level 2, row C.")
