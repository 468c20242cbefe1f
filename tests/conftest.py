from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from memoryapp.devstack.services import EmbeddedRedis, free_port
from tests.support.fake_hub import FakeHub
from tests.support.workers import WorkerProcess

# alice (the owner) and bob (a member), their clients and their data.
pytest_plugins = ["tests.support.household"]


@pytest.fixture(autouse=True)
def _dense_routes_forgotten() -> Iterator[None]:
    """Each test's owners get their dense query routes chosen afresh (ids can repeat across
    databases, and tests change EXACT_SCAN_MAX_ROWS)."""
    from memoryapp.retrieval import search

    search.routes_forget()
    yield
    search.routes_forget()


@pytest.fixture
def worker_env() -> dict[str, str]:
    """Settings of the `worker` fixture's process (environment variables); a test module
    overrides this fixture to change them."""
    return {}


@pytest.fixture
def worker(transactional_db: None, worker_env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A real Celery worker process serving both queues, on the test database."""
    process = WorkerProcess([settings.CHAT_QUEUE, settings.MEMORY_QUEUE], env=worker_env).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis server of the test's own, which it may stop and start (outage tests)."""
    server = EmbeddedRedis(tmp_path / "redis", free_port())
    server.start()
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Pages use the manifest storage, which needs `collectstatic` (into the scratch var dir).

    Done before collection: importing the ASGI application builds the static-files middleware.
    """
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


# The model manager's tests: a models directory of the test's own (LLM_MODEL_DIR), and the
# fake hub.
@pytest.fixture
def models_dir(tmp_path: Path, settings: Any) -> Path:
    directory = tmp_path / "models"
    directory.mkdir()
    settings.LLM_MODEL_DIR = directory
    return directory


@pytest.fixture
def hub(settings: Any) -> Iterator[FakeHub]:
    server = FakeHub().start()
    settings.LLM_HUB_ENDPOINT = server.url
    settings.LLM_HUB_TOKEN = ""
    try:
        yield server
    finally:
        server.stop()
