"""`memoryapp.jobs`: tasks sent by name to their queue, run at once in eager mode, and the only
way services and views start a task."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memoryapp import jobs
from memoryapp.celery import app as celery_app
from memoryapp.models import Message
from tests import factories
from tests.support.workers import WorkerProcess

MEMORYAPP = Path(jobs.__file__).resolve().parent


@pytest.fixture
def eager() -> Iterator[None]:
    with jobs.run_here():
        yield


def test_each_job_goes_to_the_queue_its_name_routes_to(settings: Any) -> None:
    settings.CHAT_QUEUE, settings.MEMORY_QUEUE = "answers", "remembering"

    assert jobs.queue_for(jobs.ANSWER) == "answers"
    assert {jobs.queue_for(name) for name in (jobs.INGESTION, jobs.CONSOLIDATION, jobs.TITLE)} == {
        "remembering"
    }
    with pytest.raises(ValueError, match="not named"):
        jobs.queue_for("answer")


def test_every_job_names_a_registered_task() -> None:
    celery_app.loader.import_default_modules()

    for name in (jobs.ANSWER, jobs.INGESTION, jobs.CONSOLIDATION, jobs.TITLE):
        assert name in celery_app.tasks


@pytest.mark.django_db
def test_in_eager_mode_a_job_runs_here_at_once(eager: None) -> None:
    chat = factories.conversation(factories.user())
    message = factories.message(chat, "I planted tomatoes on the balcony.")

    jobs.ingestion_enqueue(conversation_id=chat.pk)

    assert Message.objects.get(pk=message.pk).embedding_model


@pytest.mark.django_db(transaction=True)
def test_a_job_reaches_a_worker_through_the_broker(worker: WorkerProcess) -> None:
    chat = factories.conversation(factories.user())
    message = factories.message(chat, "I planted tomatoes on the balcony.")

    jobs.ingestion_enqueue(conversation_id=chat.pk)

    worker.wait_for(
        lambda: bool(Message.objects.get(pk=message.pk).embedding_model), 60, "the ingestion"
    )


def _imports_tasks(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = {f"{node.module}.{alias.name}" for alias in node.names}
            if node.module == "memoryapp.tasks" or "memoryapp.tasks" in names:
                return True
        if isinstance(node, ast.Import) and any(a.name == "memoryapp.tasks" for a in node.names):
            return True
    return False


def test_no_service_or_view_imports_the_tasks_module() -> None:
    """tasks.py imports the services; services importing it back made an import circle."""
    modules = [
        *sorted((MEMORYAPP / "services").rglob("*.py")),
        *sorted((MEMORYAPP / "views").rglob("*.py")),
    ]

    assert [str(p.relative_to(MEMORYAPP)) for p in modules if _imports_tasks(p)] == []
