"""Importing a ChatGPT export on the Memory page, in Chromium, run by a real memory worker:
the job waits with its progress bar until a worker takes it, then says what it imported,
and the conversations are in the chat's sidebar; the same file again adds nothing, and a
truncated file fails with the reason, changing nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect

from memoryapp.benchmarks.chatgpt_export import chatgpt_export_write
from memoryapp.models import Conversation, ImportJob, JobStatus, Message
from tests.support.browser import screenshot, sign_in_with_cookie
from tests.support.live_stack import LiveStack
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.browser

CONVERSATIONS = 6


def _import_section(page: Page) -> Locator:
    """The Memory page's import section, once htmx has loaded its form."""
    section = page.locator("#import-section")
    expect(section.get_by_role("button", name="Import")).to_be_visible()
    return section


def _to_top(element: Locator) -> None:
    """Scroll the page so that `element` starts at the top of the window (for a picture)."""
    element.evaluate("element => element.scrollIntoView({block: 'start'})")


def _upload(section: Locator, path: Path) -> None:
    section.get_by_label("ChatGPT data export").check()
    section.get_by_label("File", exact=True).set_input_files(path)
    section.get_by_role("button", name="Import").click()


def _memory_built(page: Page, timeout: float = 120) -> None:
    """Reload the Memory page until the worker has consolidated every topic the import made."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto("/memory/")
        pending = page.locator("#count-jobs-pending").text_content()
        if pending == "0 memory jobs pending":
            return
        assert time.monotonic() < deadline, f"still {pending} after {timeout}s"
        time.sleep(1)


def test_import_a_chatgpt_export_with_progress_then_again_then_a_broken_file(
    stack: LiveStack,
    scripted_worker: Callable[..., WorkerProcess],
    page: Page,
    tmp_path: Path,
) -> None:
    export = tmp_path / "chatgpt-export.zip"
    chatgpt_export_write(export, conversations=CONVERSATIONS)
    plain = tmp_path / "conversations.json"
    chatgpt_export_write(plain, conversations=CONVERSATIONS)
    titles = [conversation["title"] for conversation in json.loads(plain.read_text())]
    broken = tmp_path / "broken" / "conversations.json"
    broken.parent.mkdir()
    broken.write_bytes(plain.read_bytes()[:3000])
    user = User.objects.create_user("olga")
    # No worker on the memory queue yet: the job waits, and its progress bar shows it.
    stack.stop_worker()
    sign_in_with_cookie(page.context, stack.url, user)
    page.goto("/memory/")

    section = _import_section(page)
    _upload(section, export)

    expect(section.get_by_role("status").first).to_have_text(
        "Importing chatgpt-export.zip: its progress is below."
    )
    job = ImportJob.objects.get(owner=user)
    row = page.locator(f"#import-job-{job.pk}")
    expect(row.get_by_role("progressbar", name="Import progress")).to_be_visible()
    expect(row).to_contain_text("Waiting for the memory worker…")
    _to_top(section)
    screenshot(page, "memory-import-progress")

    scripted_worker([])  # a real Celery worker on the stack's memory queue
    done = row.locator(".import-done")
    expect(done).to_contain_text(f"Imported {CONVERSATIONS} conversations (", timeout=60_000)
    expect(done).to_contain_text("Memory is built from them in the background")
    expect(row.get_by_role("progressbar")).to_have_count(0)
    _to_top(section)
    screenshot(page, "memory-import-done")
    job.refresh_from_db()
    assert job.job_status == JobStatus.DONE
    imported = Conversation.objects.filter(owner=user)
    assert sorted(imported.values_list("title", flat=True)) == sorted(titles)
    messages = Message.objects.filter(owner=user).count()
    expect(done).to_contain_text(f"Imported {CONVERSATIONS} conversations ({messages} messages).")

    page.get_by_role("link", name="← Back to the chat").click()
    sidebar = page.get_by_role("navigation", name="Conversations")
    for title in titles:
        expect(sidebar.get_by_role("link", name=title, exact=True)).to_be_visible()

    _memory_built(page)
    expect(page.locator("#count-segments")).not_to_have_text("0 topics")
    expect(page.locator(".memory-topic").first).to_be_visible()
    section = _import_section(page)
    _upload(section, export)
    expect(section.get_by_role("status").first).to_have_text(
        "This file was imported already (chatgpt-export.zip): nothing more was done."
    )
    expect(section.locator(".import-job")).to_have_count(1)
    assert ImportJob.objects.filter(owner=user).count() == 1
    assert imported.count() == CONVERSATIONS
    assert Message.objects.filter(owner=user).count() == messages

    _upload(section, broken)
    expect(section.get_by_role("status").first).to_have_text(
        "Importing conversations.json: its progress is below."
    )
    failed = ImportJob.objects.get(owner=user, filename="conversations.json")
    error = page.locator(f"#import-job-{failed.pk}").get_by_role("alert")
    expect(error).to_contain_text(
        "conversations.json is not valid JSON (it ends too early: is the file truncated?",
        timeout=30_000,
    )
    expect(error).to_contain_text("Nothing was imported.")
    _to_top(section)
    screenshot(page, "memory-import-error")
    failed.refresh_from_db()
    assert failed.job_status == JobStatus.FAILED
    assert imported.count() == CONVERSATIONS
    assert Message.objects.filter(owner=user).count() == messages
