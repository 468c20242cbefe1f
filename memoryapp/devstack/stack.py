"""The commands behind `make run`, `make test` and `make manage`.

`run` brings up the whole application in one terminal: embedded Postgres and Redis (unless
DATABASE_URL / REDIS_URL point elsewhere), migrations, then daphne, one Celery worker per
queue and beat, their logs multiplexed and each restarted when it dies (`supervisor.py`).
`test` does the same for a throw-away pair of servers and runs the checks. `manage` runs one
management command against the `make run` data.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from memoryapp.devstack.services import EmbeddedPostgres, EmbeddedRedis, free_port

logger = logging.getLogger("memoryapp.devstack")

PROJECT_DIR = Path(__file__).resolve().parents[2]
DATABASE_NAME = "memoryapp"


class _Output:
    """stdout that outlives its reader: after `make run | tee log` and Ctrl-C, tee is gone,
    and a write failing then must not abort the shutdown of the processes and servers."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._broken = False

    def write(self, text: str) -> int:
        if not self._broken:
            try:
                self._stream.write(text)
                self._stream.flush()
            except OSError:  # BrokenPipeError and friends
                self._broken = True
        return len(text)

    def flush(self) -> None:
        """Every write is flushed already."""

    def isatty(self) -> bool:
        return self._stream.isatty()


_output = _Output(sys.stdout)


def _say(text: str) -> None:
    _output.write(f"[memoryapp] {text}\n")


def _configured_externally(name: str) -> bool:
    return bool(os.environ.get(name) or os.environ.get(f"{name}_FILE"))


@dataclass
class EmbeddedServices:
    """The embedded servers of one data directory, and which of them this process started."""

    postgres: EmbeddedPostgres | None
    redis: EmbeddedRedis | None

    @classmethod
    def for_var_dir(cls, var_dir: Path, *, postgres_port: int, redis_port: int) -> EmbeddedServices:
        postgres = None
        if not _configured_externally("DATABASE_URL"):
            postgres = EmbeddedPostgres(var_dir / "postgres", postgres_port)
        redis = None
        if not _configured_externally("REDIS_URL"):
            redis = EmbeddedRedis(var_dir / "redis", redis_port)
        return cls(postgres=postgres, redis=redis)

    @contextlib.contextmanager
    def running(self, *, stop_all: bool) -> Iterator[None]:
        """Start what is not running; on exit stop what we started (or everything).

        The app's processes (children of this one) get the URLs of the app's role through
        DATABASE_URL and REDIS_URL; the Postgres superuser's stays here."""
        started: list[EmbeddedPostgres | EmbeddedRedis] = []
        ready = False
        try:
            for server in (self.postgres, self.redis):
                if server is None:
                    continue
                if server.is_running():
                    _say(f"{type(server).__name__} already running on port {server.port}")
                else:
                    begin = time.monotonic()
                    server.start()
                    started.append(server)
                    _say(
                        f"{type(server).__name__} started on 127.0.0.1:{server.port} "
                        f"in {time.monotonic() - begin:.1f}s"
                    )
            if self.postgres is not None:
                os.environ["DATABASE_URL"] = self.postgres.ensure_app_database(DATABASE_NAME)
            if self.redis is not None:
                os.environ["REDIS_URL"] = self.redis.url()
            ready = True
            yield
        finally:
            # Servers found running are ours to stop only once we came up with them.
            ours = [s for s in (self.redis, self.postgres) if s]
            to_stop = ours if stop_all and ready else started[::-1]
            for server in to_stop:
                server.stop()
                _say(f"{type(server).__name__} stopped")


def _project_services() -> EmbeddedServices:
    from django.conf import settings

    return EmbeddedServices.for_var_dir(
        settings.VAR_DIR,
        postgres_port=settings.EMBEDDED_POSTGRES_PORT,
        redis_port=settings.EMBEDDED_REDIS_PORT,
    )


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _run_checked(command: Sequence[str], env: dict[str, str] | None = None) -> int:
    return subprocess.run(command, cwd=PROJECT_DIR, env=env, check=False).returncode  # noqa: S603


def _prepare_database() -> None:
    for args in (("migrate", "--noinput"), ("collectstatic", "--noinput", "--verbosity", "0")):
        if _run_checked(_python("manage.py", *args)) != 0:
            raise SystemExit(f"manage.py {args[0]} failed")


def processes(*, host: str, port: int, chat_workers: int = 1) -> dict[str, list[str]]:
    """The long-running processes of memoryapp, by name; `chat_workers` chat workers (each
    loads the model and answers one message at a time)."""
    from django.conf import settings

    def celery(*args: str) -> list[str]:
        return _python("-m", "celery", "-A", "memoryapp", *args, "--loglevel", "INFO")

    def worker(queue: str, number: int = 1) -> list[str]:
        # `solo` keeps the model in the process that runs the task.
        hostname = queue if number == 1 else f"{queue}{number}"
        return celery(
            *f"worker --queues {queue} --pool solo --without-mingle --without-gossip".split(),
            *("--hostname", f"{hostname}@%h"),
        )

    chat = {
        "chat" if chat_workers == 1 else f"chat{number}": worker(settings.CHAT_QUEUE, number)
        for number in range(1, chat_workers + 1)
    }
    return {
        "web": _python("-m", "daphne", "-b", host, "-p", str(port), "memoryapp.asgi:application"),
        **chat,
        "memory": worker(settings.MEMORY_QUEUE),
        "beat": celery("beat", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")),
    }


def _announce_when_ready(port: int, started_at: float) -> None:
    """Print the URL once the web process answers, and again once /healthz is green."""
    url = f"http://127.0.0.1:{port}/"
    announced = False
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2):  # noqa: S310 - our own URL
                healthy = True
        except urllib.error.HTTPError:
            healthy = False  # the web server answers; some component is not ready yet
        except OSError:
            time.sleep(0.5)
            continue
        if not announced:
            _say(f"memoryapp is running at {url}")
            announced = True
        if healthy:
            _say(
                f"all components healthy ({url}healthz) after {time.monotonic() - started_at:.1f}s"
            )
            return
        time.sleep(2)


def run(*, host: str, port: int, chat_workers: int = 1) -> int:
    from memoryapp.devstack.supervisor import Supervisor

    started_at = time.monotonic()
    with _project_services().running(stop_all=True):
        _prepare_database()
        url_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        _run_checked(
            _python("manage.py", "owner_setup_link", "--base-url", f"http://{url_host}:{port}")
        )
        supervisor = Supervisor(
            processes(host=host, port=port, chat_workers=chat_workers),
            output=_output,
            cwd=PROJECT_DIR,
        )
        threading.Thread(target=_announce_when_ready, args=(port, started_at), daemon=True).start()
        code = supervisor.run()
        # The processes are stopped; a second Ctrl-C must not leave the servers running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return code


def manage(args: Sequence[str]) -> int:
    with _project_services().running(stop_all=False):
        return _run_checked(_python("manage.py", *args))


def test(pytest_args: Sequence[str], *, lint: bool = True) -> int:
    """Lint and type-check (unless not `lint`), then run pytest against throw-away Postgres
    and Redis servers."""
    scratch = Path(tempfile.mkdtemp(prefix="memoryapp-test-"))
    postgres = EmbeddedPostgres(scratch / "postgres", free_port())
    redis = EmbeddedRedis(scratch / "redis", free_port())
    env = {
        **os.environ,
        "REDIS_URL": redis.url(),
        "MEMORYAPP_VAR_DIR": str(scratch / "var"),
    }
    env.pop("DATABASE_URL_FILE", None)
    env.pop("REDIS_URL_FILE", None)
    checks = [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy", "."]]
    steps = [*(checks if lint else []), ["pytest", *pytest_args]]
    try:
        postgres.start()
        redis.start()
        # As the app's role, which creates pytest-django's test database.
        env["DATABASE_URL"] = postgres.ensure_app_database(DATABASE_NAME, may_create_databases=True)
        for step in steps:
            _say("$ " + " ".join(step))
            code = _run_checked(_python("-m", *step), env=env)
            if code != 0:
                _say(f"failed: {' '.join(step)} (exit {code})")
                return code
        return 0
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(scratch, ignore_errors=True)
