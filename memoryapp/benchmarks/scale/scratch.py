"""The throw-away Postgres the retrieval benchmark fills, and the child process that runs on it.

The benchmark writes a million rows; it must never touch the person's database. The command
therefore starts an embedded Postgres in a temporary directory, on a free port, and runs
itself again in a child process whose DATABASE_URL points at it. A fresh process is the
robust way to switch databases: settings and connections are built from the environment at
start-up, so nothing in the child can hold a connection to the real database, and the child
can run `migrate` like any deployment would. (Switching `settings.DATABASES` in-process
would work only if no connection had been opened yet, which nothing enforces.)

The child knows it is one because SCRATCH_VARIABLE holds the database it was given, and it
refuses to write unless that is the database Django is configured with. It gets no Redis:
the benchmark needs none, and a closed port makes any accidental use fail instead of
reaching the person's Redis.

Clean-up: the server is stopped and the directory deleted when the benchmark ends, fails or
is interrupted; a guard process (`guard.py`) does the same if the command itself is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.conf import settings

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.scale.guard import DATA_DIR_NAME, remove_scratch
from memoryapp.devstack.services import EmbeddedPostgres, ServiceError, free_port

SCRATCH_VARIABLE = "MEMORYAPP_BENCH_SCRATCH_DATABASE"
SCRATCH_DATABASE = "memoryapp_bench"


def in_scratch_database() -> bool:
    """Whether this process is the child, configured with the scratch database."""
    scratch_url = os.environ.get(SCRATCH_VARIABLE, "")
    return bool(scratch_url) and scratch_url == settings.DATABASE_URL


def require_scratch_database() -> None:
    if not in_scratch_database():
        raise BenchError("refusing to write: this is not the benchmark's scratch database")


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """A second Ctrl-C during clean-up must not leave the server behind."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals (and may set their handlers)
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _start_guard(directory: Path, port: int) -> int:
    """Start the guard process; returns the pipe end whose closing releases it."""
    read_end, write_end = os.pipe()
    command = [sys.executable, "-m", "memoryapp.benchmarks.scale.guard", str(directory), str(port)]
    subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command,
        stdin=read_end,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # out of reach of the terminal's Ctrl-C
        cwd=settings.BASE_DIR,
    )
    os.close(read_end)
    return write_end


@contextmanager
def scratch_postgres() -> Iterator[tuple[str, Path]]:
    """An empty database on a new embedded Postgres, deleted on exit; yields its URL and
    the directory holding the server's data."""
    directory = Path(tempfile.mkdtemp(prefix="memoryapp-bench-"))
    postgres = EmbeddedPostgres(directory / DATA_DIR_NAME, free_port())
    guard = _start_guard(directory, postgres.port)
    try:
        try:
            postgres.start()
            postgres.ensure_database(SCRATCH_DATABASE)
        except (ServiceError, OSError, subprocess.SubprocessError, psycopg.Error) as exc:
            raise BenchError(f"the scratch Postgres did not start: {exc}") from exc
        yield postgres.url(SCRATCH_DATABASE), directory
    finally:
        with _sigint_ignored():
            remove_scratch(directory, postgres.port)
        os.close(guard)


def _child_environment(database_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        SCRATCH_VARIABLE: database_url,
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("DATABASE_URL_FILE", "REDIS_URL_FILE"):
        env.pop(name, None)
    return env


def rerun_in_scratch(arguments: list[str], *, write: Callable[[str], None]) -> None:
    """Run `manage.py <arguments>` on a scratch Postgres, relaying its output line by line.

    Raises `BenchError` when the server does not start or the child fails.
    """
    with scratch_postgres() as (database_url, directory):
        write(f"scratch database {database_url} in {directory} (deleted at the end)")
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        with subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, manage, *arguments],
            env=_child_environment(database_url),
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        ) as child:
            try:
                for line in child.stdout or ():
                    write(line.rstrip("\n"))
            except BaseException:
                child.terminate()  # it may still be writing to the server about to stop
                raise
        if child.returncode != 0:
            raise BenchError(f"the benchmark failed (exit {child.returncode})")
