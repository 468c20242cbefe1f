"""Running a benchmark against throw-away servers, never the person's database.

`memory_eval locomo|longmemeval` imports thousands of turns as users; that must not touch
the data of the running application. The command therefore starts a scratch Postgres
(embedded, in a temporary directory, on a free port) and a scratch Redis next to it, and runs
itself again in a child process whose DATABASE_URL and REDIS_URL point at them. A fresh
process is the simplest robust way: settings, database connections, Celery and the Channels
layer are all built from the environment at start-up, so nothing can still hold a
connection to the real database. The child migrates the empty database, runs the benchmark
and exits; the servers and the directory are then removed.

The child knows it is one because SCRATCH_VARIABLE names the database it was given, and it
refuses to run unless that is the database Django is configured with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management import call_command

from memoryapp.devstack.services import EmbeddedPostgres, EmbeddedRedis, ServiceError, free_port
from memoryapp.evaluation import EvaluationError

SCRATCH_VARIABLE = "MEMORYAPP_EVAL_SCRATCH_DATABASE"
SCRATCH_DATABASE = "memoryapp_eval"


def in_scratch_database() -> bool:
    """Whether this process is the child, running on the scratch database."""
    scratch_url = os.environ.get(SCRATCH_VARIABLE, "")
    return bool(scratch_url) and scratch_url == settings.DATABASE_URL


def prepare_scratch_database() -> None:
    """Create the tables in the (empty) scratch database."""
    if not in_scratch_database():
        raise EvaluationError("refusing to migrate: this is not the scratch database")
    call_command("migrate", interactive=False, verbosity=0)


def rerun_in_scratch(
    arguments: list[str], *, environment: Mapping[str, str], write: Callable[[str], None]
) -> None:
    """Run `manage.py memory_eval <arguments>` on scratch servers, relaying its output.

    `environment` adds variables for the child (e.g. MEMORY_LLM). Raises `EvaluationError`
    when the servers do not start or the child fails.
    """
    with scratch_servers() as urls:
        env = {**os.environ, **environment, **urls, SCRATCH_VARIABLE: urls["DATABASE_URL"]}
        for name in ("DATABASE_URL_FILE", "REDIS_URL_FILE"):
            env.pop(name, None)
        write(f"scratch database {urls['DATABASE_URL']} (removed afterwards)")
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        command = [sys.executable, manage, "memory_eval", *arguments]
        with subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            command, env=env, stdout=subprocess.PIPE, text=True, bufsize=1
        ) as child:
            for line in child.stdout or ():
                write(line.rstrip("\n"))
        if child.returncode != 0:
            raise EvaluationError(f"the evaluation failed (exit {child.returncode})")


@contextmanager
def scratch_servers() -> Iterator[dict[str, str]]:
    """An empty Postgres database and a Redis, removed on exit: {DATABASE_URL, REDIS_URL}."""
    directory = Path(tempfile.mkdtemp(prefix="memoryapp-eval-"))
    postgres = EmbeddedPostgres(directory / "postgres", free_port())
    redis = EmbeddedRedis(directory / "redis", free_port())
    try:
        try:
            postgres.start()
            postgres.ensure_database(SCRATCH_DATABASE)
            redis.start()
        except (ServiceError, OSError, subprocess.SubprocessError, psycopg.Error) as exc:
            raise EvaluationError(f"the scratch servers did not start: {exc}") from exc
        yield {"DATABASE_URL": postgres.url(SCRATCH_DATABASE), "REDIS_URL": redis.url()}
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(directory, ignore_errors=True)
