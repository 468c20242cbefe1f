"""Throw-away servers for commands that must never touch the person's data.

`memory_eval` imports thousands of turns as users and `memory_bench` writes a million rows;
neither may reach the running application's database. Such a command starts an embedded
Postgres (and, when it needs one, a Redis) in a temporary directory on free ports, and runs
itself again in a child process whose DATABASE_URL and REDIS_URL point at them. A fresh
process is the robust way to switch databases: settings, connections, Celery and the Channels
layer are all built from the environment at start-up, so nothing in the child can still hold
a connection to the real database, and the child can `migrate` like any deployment would.
(Switching `settings.DATABASES` in-process would work only if no connection had been opened
yet, which nothing enforces.) A child given no Redis gets a closed port, so that any use of
one fails instead of reaching the person's Redis.

The child knows it is one because `Scratch.variable` holds the database it was given, and a
command refuses to write unless that is the database Django is configured with.

Clean-up: the servers are stopped and the directory deleted when the command ends, fails or
is interrupted; a guard process (`scratch_guard`) does the same if the command is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from django.conf import settings

from memoryapp.devstack.scratch_guard import POSTGRES_DIR, REDIS_DIR, remove_scratch
from memoryapp.devstack.services import EmbeddedPostgres, EmbeddedRedis, ServiceError, free_port


class ScratchError(Exception):
    """The scratch servers did not start, or the command failed on them."""


@dataclass(frozen=True)
class ScratchServers:
    database_url: str
    redis_url: str
    directory: Path


@dataclass(frozen=True)
class Scratch:
    """How one command runs on scratch servers.

    `variable` names the environment variable that tells the child its scratch database,
    `database` is that database's name, `prefix` the temporary directory's, and `redis`
    whether the child gets a Redis of its own (or a closed port).
    """

    variable: str
    database: str
    prefix: str
    redis: bool

    def in_scratch_database(self) -> bool:
        """Whether this process is the child, configured with its scratch database."""
        scratch_url = os.environ.get(self.variable, "")
        return bool(scratch_url) and scratch_url == settings.DATABASE_URL

    @contextmanager
    def servers(self) -> Iterator[ScratchServers]:
        """An empty database on a new Postgres (and a Redis), all deleted on exit."""
        directory = Path(tempfile.mkdtemp(prefix=self.prefix))
        postgres = EmbeddedPostgres(directory / POSTGRES_DIR, free_port())
        redis = EmbeddedRedis(directory / REDIS_DIR, free_port()) if self.redis else None
        guard = _start_guard(directory, postgres.port, redis.port if redis else None)
        try:
            try:
                postgres.start()
                postgres.ensure_database(self.database)
                if redis is not None:
                    redis.start()
            except (ServiceError, OSError, subprocess.SubprocessError, psycopg.Error) as exc:
                raise ScratchError(f"the scratch servers did not start: {exc}") from exc
            yield ScratchServers(
                database_url=postgres.url(self.database),
                # Nothing listens on a fresh free port: a child without Redis fails to use one.
                redis_url=redis.url() if redis else f"redis://127.0.0.1:{free_port()}/0",
                directory=directory,
            )
        finally:
            with _sigint_ignored():
                remove_scratch(directory, postgres.port, redis.port if redis else None)
            os.close(guard)

    def rerun(
        self,
        arguments: Sequence[str],
        *,
        write: Callable[[str], None],
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """Run `manage.py <arguments>` on scratch servers, relaying its output line by line.

        `environment` adds variables for the child (e.g. MEMORY_LLM). Raises `ScratchError`
        when the servers do not start or the child fails.
        """
        with self.servers() as servers:
            write(
                f"scratch database {servers.database_url} in {servers.directory} "
                "(deleted at the end)"
            )
            manage = str(Path(settings.BASE_DIR) / "manage.py")
            with subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
                [sys.executable, manage, *arguments],
                env=self._child_environment(servers, environment or {}),
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            ) as child:
                try:
                    for line in child.stdout or ():
                        write(line.rstrip("\n"))
                except BaseException:
                    child.terminate()  # it may still be writing to the servers about to stop
                    raise
            if child.returncode != 0:
                raise ScratchError(
                    f"manage.py {arguments[0]} failed on the scratch database "
                    f"(exit {child.returncode})"
                )

    def _child_environment(
        self, servers: ScratchServers, environment: Mapping[str, str]
    ) -> dict[str, str]:
        env = {
            **os.environ,
            **environment,
            "DATABASE_URL": servers.database_url,
            "REDIS_URL": servers.redis_url,
            self.variable: servers.database_url,
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("DATABASE_URL_FILE", "REDIS_URL_FILE"):
            env.pop(name, None)
        return env


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """A second Ctrl-C during clean-up must not leave the servers behind."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals (and may set their handlers)
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _start_guard(directory: Path, postgres_port: int, redis_port: int | None) -> int:
    """Start the guard process; returns the pipe end whose closing releases it."""
    read_end, write_end = os.pipe()
    command = [sys.executable, "-m", "memoryapp.devstack.scratch_guard", str(directory)]
    command += [str(postgres_port), str(redis_port or "")]
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
