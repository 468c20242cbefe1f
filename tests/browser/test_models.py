"""The model manager in Chromium, end to end, against a fake hub: the owner downloads a model
(a copy of the demo model with other metadata) and watches its progress bar, makes it the
active model, and the running worker switches to it: the chat header and /healthz say so.
A wrong repository shows the hub's answer on the page.

The stack here is the module's own (daphne and one worker serving its chat and memory queues,
with the real small model), since its models directory and hub endpoint are the test's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from memoryapp.llm.models import DEMO_FILE
from tests import factories
from tests.support.browser import WEBSOCKET_TRACKER, screenshot, sign_in_with_cookie
from tests.support.fake_hub import FakeHub
from tests.support.gguf_files import demo_copy
from tests.support.webserver import WebServer
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.browser

REPO = "someone/SmolLM2-copy-GGUF"
FILE = "smollm2-copy-Q4_1.gguf"


@dataclass
class ModelStack:
    url: str
    hub: FakeHub
    models_dir: Path
    worker: WorkerProcess


@pytest.fixture(scope="module")
def model_stack(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelStack]:
    root = tmp_path_factory.mktemp("model-manager")
    models_dir = root / "models"
    models_dir.mkdir()
    copy = demo_copy(root / FILE, context_length=4096)
    # About 1,500 pieces of 64 KB, 2 ms each: a few seconds, long enough to see the bar move.
    hub = FakeHub(repos={REPO: {FILE: copy.read_bytes()}}, delay=0.002).start()
    suffix = uuid.uuid4().hex[:8]
    env = {
        "CHAT_QUEUE": f"models-chat-{suffix}",
        "MEMORY_QUEUE": f"models-memory-{suffix}",
        "LLM_MODEL_DIR": str(models_dir),
        "LLM_HUB_ENDPOINT": hub.url,
        "LLM_CONTEXT_SIZE": "2048",
    }
    server = WebServer(env=env).launch()
    worker = WorkerProcess([env["CHAT_QUEUE"], env["MEMORY_QUEUE"]], env=env)
    try:
        worker.start()
        server.wait_until_ready()
        worker.wait_for(worker.models_loaded, 120, "models loaded")
        yield ModelStack(server.url, hub, models_dir, worker)
    finally:
        worker.stop()
        server.stop()
        hub.stop()


@pytest.fixture
def owner_page(browser: Browser, model_stack: ModelStack, transactional_db: None) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(base_url=model_stack.url)
    context.set_default_timeout(20_000)
    context.add_init_script(WEBSOCKET_TRACKER)
    owner = factories.user("owner", is_staff=True, is_superuser=True)
    sign_in_with_cookie(context, model_stack.url, owner)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def test_download_use_and_see_the_new_model_answer(
    owner_page: Page, model_stack: ModelStack
) -> None:
    page = owner_page
    page.goto("/models/")
    expect(page.get_by_role("heading", name="Models", exact=True)).to_be_visible()
    expect(page.locator("#answering")).to_contain_text(f"Answering now: {DEMO_FILE}")
    demo_row = page.locator(f'tr[data-name="{DEMO_FILE}"]')
    expect(demo_row).to_contain_text("(demo model)")
    expect(demo_row).to_contain_text("Q4_1")
    expect(demo_row).to_contain_text("8192")
    expect(demo_row).to_contain_text("ChatML")

    page.get_by_label("Repository").fill(REPO)
    page.get_by_label("File").fill(FILE)
    page.get_by_role("button", name="Download", exact=True).click()

    expect(page.get_by_role("status").first).to_contain_text(f"Downloading {FILE}")
    download = page.locator(".model-download").first
    bar = download.locator("progress[max]")
    expect(bar).to_be_visible()  # the live bar, while the bytes come
    # htmx polls the row: the bar moves on past zero before the end.
    page.wait_for_function(
        """() => { const bar = document.querySelector('.model-download progress[max]');
                   return bar && bar.value > 0 && bar.value < bar.max; }"""
    )
    screenshot(page, "models-download-progress", full_page=True)
    expect(download.locator(".download-done")).to_contain_text(
        "Downloaded and verified", timeout=120_000
    )
    assert (model_stack.models_dir / FILE).is_file()

    download.get_by_role("link", name="Reload the list").click()
    row = page.locator(f'tr[data-name="{FILE}"]')
    expect(row).to_contain_text("Memoryapp test copy of SmolLM 2")
    expect(row).to_contain_text("4096")
    row.get_by_label("Context").fill("1024")
    row.get_by_role("button", name="Use").click()

    expect(page.get_by_role("status").first).to_contain_text(f"{FILE} is the active model")
    expect(page.locator("#active-choice")).to_contain_text(f"Active model: {FILE}")
    # The running worker loads it between jobs; the page says so once its heartbeat does.
    expect(page.locator(f'tr[data-name="{FILE}"] .active-badge')).to_be_visible()
    model_stack.worker.wait_for(
        lambda: (
            (beat := model_stack.worker.heartbeat()) is not None
            and beat.llm.get("model") == FILE
            and beat.llm.get("state") == "loaded"
        ),
        90,
        "the worker on the new model",
    )
    page.goto("/")
    expect(page.locator("#model-status")).to_contain_text(f"Answers by {FILE}")
    expect(page.locator(".chat-head .notice")).to_have_count(0)  # not the demo model
    screenshot(page, "models-chat-header")
    health = page.goto("/healthz")
    assert health is not None
    report = json.loads(health.text())
    assert report["model"] == {"answering": [FILE], "active": FILE}
    llm = report["queues"][next(iter(report["queues"]))]["workers"][0]["llm"]
    assert (llm["context_size"], llm["source"], llm["demo"]) == (1024, "chosen", False)


def test_a_wrong_repository_is_shown_on_the_page(owner_page: Page) -> None:
    page = owner_page
    page.goto("/models/")
    page.get_by_label("Repository").fill("nobody/nothing-GGUF")
    page.get_by_label("File").fill("nothing.gguf")
    page.get_by_role("button", name="Download", exact=True).click()

    failed = page.locator(".model-download .download-failed").first
    expect(failed).to_contain_text("There is no repository nobody/nothing-GGUF", timeout=60_000)
    screenshot(page, "models-download-error")
