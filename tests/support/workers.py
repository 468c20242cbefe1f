"""Real Celery worker processes for tests, started against the test database and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from memoryapp.heartbeats import WorkerHeartbeat, heartbeats_read

PROJECT_DIR = Path(__file__).resolve().parents[2]


def subprocess_database_url() -> str:
    """DATABASE_URL of the database this test process uses (pytest-django's test database,
    once it is set up), for subprocesses that must see the same data."""
    database = settings.DATABASES["default"]
    credentials = quote(database["USER"], safe="")
    if database.get("PASSWORD"):
        credentials += ":" + quote(database["PASSWORD"], safe="")
    return (
        f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/"
        f"{connection.settings_dict['NAME']}"
    )


def subprocess_environ(**overrides: str) -> dict[str, str]:
    """This process's environment for a subprocess, with `overrides`.

    Leaves out DJANGO_ALLOW_ASYNC_UNSAFE, which browser tests set for themselves: the app's
    processes must keep refusing blocking ORM calls inside an event loop.
    """
    environ = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {**environ, "DATABASE_URL": subprocess_database_url(), **overrides}


class WorkerProcess:
    """`celery worker` in a subprocess; `start()` returns once its heartbeat is visible.

    `env` adds or overrides environment variables of the worker (settings it reads), and
    `include` names more modules for it to import at start (tasks, a scripted LLM backend).
    """

    def __init__(
        self,
        queues: Sequence[str],
        *,
        heartbeat_seconds: int = 1,
        env: Mapping[str, str] | None = None,
        include: Sequence[str] = (),
    ) -> None:
        self.queues = list(queues)
        self.hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.heartbeat_seconds = heartbeat_seconds
        self.extra_env = dict(env or {})
        self.include = ["tests.support.tasks", *include]
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.log_path = Path(settings.VAR_DIR) / f"worker-{self.hostname}.log"

    def _env(self) -> dict[str, str]:
        return subprocess_environ(
            WORKER_HEARTBEAT_SECONDS=str(self.heartbeat_seconds), **self.extra_env
        )

    def start(self, timeout: float = 60) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "celery", "-A", "memoryapp", "worker",
            "--queues", ",".join(self.queues), "--hostname", self.hostname,
            "--pool", "solo", "--loglevel", "INFO", "--include", ",".join(self.include),
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=PROJECT_DIR, env=self._env(), stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_for(lambda: self.heartbeat() is not None, timeout, "worker heartbeat")
        return self

    def heartbeat(self) -> WorkerHeartbeat | None:
        return next((b for b in heartbeats_read() if b.hostname == self.hostname), None)

    def models_loaded(self) -> bool:
        beat = self.heartbeat()
        return (
            beat is not None
            and beat.llm.get("state") == "loaded"
            and beat.embeddings.get("state") == "loaded"
        )

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.process is not None
            if not self.stopping and self.process.poll() is not None:
                raise RuntimeError(f"worker exited; log:\n{self.log_path.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {timeout}s; log:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        self.stopping = True
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
