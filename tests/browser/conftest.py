"""A real memoryapp (daphne, a chat worker, the test database, Redis) and a real Chromium.

The web server and the browser live as long as this package's tests; every test gets a new
browser context and `transactional_db`, so what it writes is committed (the server and the
worker see it) and truncated afterwards. The chat worker is started by the fixture a test
asks for: `llm_worker` (the real small model, kept running across tests) or
`scripted_worker` (a new one per call, replacing the other).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.support.browser import CHROMIUM, WEBSOCKET_TRACKER, chromium_launch, screenshot
from tests.support.live_stack import LiveStack
from tests.support.workers import WorkerProcess

# Small enough to test the limit with a short message (the page's maxlength follows it).
MESSAGE_MAX_CHARS = 200
# Enough for a few seconds of streaming from the demo model on two cores, so that a test
# sees pieces arrive and can press Stop before the end; short enough to keep the suite fast.
ANSWER_MAX_TOKENS = 128


_test_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_test_failed] = True
    return report


@pytest.fixture(scope="package", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    """Playwright's sync API keeps an event loop running in this thread, and Django refuses
    ORM calls while one runs; they are safe here (nothing else uses the loop)."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def stack(request: pytest.FixtureRequest, django_db_setup: None) -> Iterator[LiveStack]:
    # The real model's worker starts while daphne starts, if any test here will use it.
    llm_needed = any(
        "llm_worker" in getattr(item, "fixturenames", ()) for item in request.session.items
    )
    running = LiveStack(
        {
            "CHAT_MESSAGE_MAX_CHARS": str(MESSAGE_MAX_CHARS),
            "CHAT_ANSWER_MAX_TOKENS": str(ANSWER_MAX_TOKENS),
        }
    ).start(with_llm_worker=llm_needed)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def llm_worker(stack: LiveStack) -> WorkerProcess:
    """The chat worker runs the real small llama.cpp model."""
    return stack.llm_worker()


@pytest.fixture
def scripted_worker(stack: LiveStack) -> Callable[..., WorkerProcess]:
    """Call with the replies (and a per-piece delay) to start a scripted chat worker."""
    return stack.scripted_worker


@pytest.fixture(scope="package")
def browser(_orm_beside_playwright: None) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make chromium` installs Debian's")
    with sync_playwright() as playwright:
        chromium = chromium_launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser, stack: LiveStack) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=stack.url)
    context.set_default_timeout(15_000)
    context.add_init_script(WEBSOCKET_TRACKER)
    yield context
    context.close()


@pytest.fixture
def page(
    request: pytest.FixtureRequest, context: BrowserContext, transactional_db: None
) -> Iterator[Page]:
    """A tab on the running app. Fails the test on script errors or missing static files;
    a failed test leaves a screenshot `failed-<test>.png` beside the others."""
    page = context.new_page()
    script_errors: list[str] = []
    missing_static: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.on(
        "response",
        lambda response: (
            missing_static.append(f"{response.status} {response.url}")
            if "/static/" in response.url and response.status >= 400
            else None
        ),
    )
    yield page
    if request.node.stash.get(_test_failed, False):
        screenshot(page, f"failed-{request.node.name}")
    page.close()
    assert not script_errors, f"script errors on the page: {script_errors}"
    assert not missing_static, f"static files not served: {missing_static}"
