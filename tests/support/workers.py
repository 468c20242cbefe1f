"""Real Celery worker processes for tests, started against the test database and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from django.conf import settings
from django.db import connection

from memoryapp.heartbeats import WorkerHeartbeat, heartbeats_read

PROJECT_DIR = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """`celery worker` in a subprocess; `start()` returns once its heartbeat is visible."""

    def __init__(self, queues: Sequence[str], *, heartbeat_seconds: int = 1) -> None:
        self.queues = list(queues)
        self.hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.heartbeat_seconds = heartbeat_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.log_path = Path(settings.VAR_DIR) / f"worker-{self.hostname}.log"

    def _env(self) -> dict[str, str]:
        database = settings.DATABASES["default"]
        url = (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{connection.settings_dict['NAME']}"
        )
        return {
            **os.environ,
            "DATABASE_URL": url,
            "WORKER_HEARTBEAT_SECONDS": str(self.heartbeat_seconds),
        }

    def start(self, timeout: float = 60) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "celery", "-A", "memoryapp", "worker",
            "--queues", ",".join(self.queues), "--hostname", self.hostname,
            "--pool", "solo", "--loglevel", "INFO", "--include", "tests.support.tasks",
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
