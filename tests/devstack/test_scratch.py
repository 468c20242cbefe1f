"""Scratch servers for the evaluation and the benchmarks: started empty, handed to a child
process, and removed at the end, even when the command is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis

from memoryapp.devstack.scratch import Scratch, ScratchError
from memoryapp.devstack.services import port_is_open
from tests.support.workers import PROJECT_DIR

SCRATCH = Scratch(
    variable="MEMORYAPP_TEST_SCRATCH_DATABASE",
    database="memoryapp_scratch_test",
    prefix="memoryapp-scratch-test-",
    redis=True,
)
# The child prints what it was given, then sleeps until it is killed.
HOLDER = """
import sys, time
import django
django.setup()
from tests.devstack.test_scratch import SCRATCH
with SCRATCH.servers() as servers:
    print(servers.directory, servers.database_url, servers.redis_url, flush=True)
    time.sleep(600)
"""


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


@pytest.mark.timeout(120)
def test_the_servers_are_empty_and_removed_at_the_end() -> None:
    with SCRATCH.servers() as servers:
        with psycopg.connect(servers.database_url) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert tables.fetchone() == (0,)
        assert redis.Redis.from_url(servers.redis_url).ping()
        assert servers.directory.is_dir()

    assert not servers.directory.exists()
    assert not port_is_open(_port(servers.database_url))
    assert not port_is_open(_port(servers.redis_url))


@pytest.mark.timeout(120)
def test_a_command_without_redis_gets_a_closed_port() -> None:
    without = Scratch(variable="X_SCRATCH", database="x_scratch", prefix="x-scratch-", redis=False)

    with without.servers() as servers:
        assert not port_is_open(_port(servers.redis_url))


@pytest.mark.timeout(120)
def test_a_failing_child_is_reported() -> None:
    lines: list[str] = []

    with pytest.raises(ScratchError, match=r"manage.py no_such_command failed .* \(exit 1\)"):
        SCRATCH.rerun(["no_such_command"], write=lines.append)

    assert lines[0].startswith("scratch database postgres://")


@pytest.mark.timeout(120)
def test_the_guard_removes_the_servers_when_the_command_is_killed() -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        cwd=PROJECT_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "memoryapp.settings"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    directory, database_url, redis_url = holder.stdout.readline().split()
    assert Path(directory).is_dir() and port_is_open(_port(redis_url))

    holder.send_signal(signal.SIGKILL)
    holder.wait()

    deadline = time.monotonic() + 60
    while Path(directory).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(directory).exists()
    assert not port_is_open(_port(database_url))
    assert not port_is_open(_port(redis_url))
