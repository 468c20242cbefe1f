"""The real web process (daphne) for tests, against the test database and Redis."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings

from memoryapp.devstack.services import free_port
from tests.support.workers import PROJECT_DIR, subprocess_environ


class WebServer:
    """`daphne memoryapp.asgi:application` on a free port; `start()` returns once it answers.

    `env` adds or overrides settings of the server (CHAT_QUEUE, CHAT_MESSAGE_MAX_CHARS, ...).
    """

    def __init__(self, *, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(settings.VAR_DIR) / f"daphne-{self.port}.log"

    def _env(self) -> dict[str, str]:
        return subprocess_environ(**self.extra_env)

    def launch(self) -> WebServer:
        """Start the process without waiting for it (see `wait_until_ready`)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
            "memoryapp.asgi:application",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=PROJECT_DIR, env=self._env(), stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_until_ready(self, timeout: float = 60) -> WebServer:
        """Wait until the sign-in page is served (the app is imported, the database reachable)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None, "launch() first"
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited; log:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/login/", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"daphne did not answer after {timeout}s; log:\n{self.log()}")
            time.sleep(0.1)

    def start(self, timeout: float = 60) -> WebServer:
        return self.launch().wait_until_ready(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
