"""Driving Debian's Chromium through Playwright against a running memoryapp."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
PHONE_VIEWPORT: ViewportSize = {"width": 390, "height": 800}

# Installed before any page script: tells the tests when the page's websocket is open, and
# how often it opened and closed.
WEBSOCKET_TRACKER = """
window.__wsOpen = false;
window.__wsOpens = 0;
window.__wsCloses = 0;
document.addEventListener("htmx:wsOpen", () => { window.__wsOpen = true; window.__wsOpens++; });
document.addEventListener("htmx:wsClose", () => { window.__wsOpen = false; window.__wsCloses++; });
"""

FINISHED_CLASS = re.compile(r"\bstatus-(done|stopped|failed)\b")

# The text streamed into an answer's bubble so far, once there is some and while the answer
# is still unfinished (a finished answer is re-rendered without the #stream- element), all
# read in one go, so that "streaming" and "has text" are seen at the same moment.
_STREAMED_TEXT = """
(answerId) => {
  const stream = document.getElementById("stream-" + answerId);
  if (!stream || !stream.textContent.trim()) return false;
  const article = stream.closest("article");
  if (/\\bstatus-(done|stopped|failed)\\b/.test(article.className)) return false;
  return stream.textContent;
}
"""


def screenshot_dir() -> Path:
    """The project's var/screenshots: not the test run's own var directory, which is a
    scratch directory removed when the run ends."""
    return Path(settings.BASE_DIR) / "var" / "screenshots"


def chromium_launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, with a fresh temporary profile."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a picture of the page for people to look at (nothing compares them): the window,
    or with `full_page` the whole page."""
    path = screenshot_dir() / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Page, username: str, password: str) -> None:
    """Sign in through the sign-in form, as a person would."""
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def sign_in_with_cookie(context: BrowserContext, base_url: str, user: User) -> None:
    """Give the browser a session of `user` without going through the form (faster)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base_url}]
    )


def wait_until_live(page: Page) -> None:
    """Wait for htmx and an open websocket: from then on, streamed pieces reach the page."""
    page.wait_for_function("() => window.htmx !== undefined && window.__wsOpen === true")


def streamed_text(page: Page, answer_id: str, timeout: float = 30_000) -> str:
    """Wait for the first streamed text of an unfinished answer; returns the text so far."""
    handle = page.wait_for_function(_STREAMED_TEXT, arg=answer_id, timeout=timeout)
    text: Any = handle.json_value()
    assert isinstance(text, str)
    return text


def answer_id(page: Page) -> str:
    """The id of the (only) assistant message on the page."""
    article = page.locator("#messages article.msg-assistant")
    expect(article).to_have_count(1)
    element_id = article.get_attribute("id")
    assert element_id is not None and element_id.startswith("msg-")
    return element_id.removeprefix("msg-")


def wait_until_finished(page: Page, answer_id: str, timeout: float = 60_000) -> None:
    expect(page.locator(f"#msg-{answer_id}")).to_have_class(FINISHED_CLASS, timeout=timeout)


def collapse_spaces(text: str) -> str:
    return " ".join(text.split())
