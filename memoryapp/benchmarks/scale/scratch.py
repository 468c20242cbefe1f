"""The throw-away Postgres the retrieval benchmark fills, and the child process that runs on it.

The benchmark writes a million rows; it must never touch the person's database. The command
runs itself again on a scratch Postgres (see `memoryapp.devstack.scratch`); the child gets no
Redis: the benchmark needs none, and a closed port makes any accidental use fail instead of
reaching the person's Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from memoryapp.benchmarks import BenchError
from memoryapp.devstack.scratch import Scratch, ScratchError

SCRATCH = Scratch(
    variable="MEMORYAPP_BENCH_SCRATCH_DATABASE",
    database="memoryapp_bench",
    prefix="memoryapp-bench-",
    redis=False,
)
SCRATCH_VARIABLE = SCRATCH.variable


def in_scratch_database() -> bool:
    """Whether this process is the child, configured with the scratch database."""
    return SCRATCH.in_scratch_database()


def require_scratch_database() -> None:
    if not in_scratch_database():
        raise BenchError("refusing to write: this is not the benchmark's scratch database")


def rerun_in_scratch(
    arguments: list[str],
    *,
    write: Callable[[str], None],
    environment: Mapping[str, str] | None = None,
) -> None:
    """Run `manage.py <arguments>` on a scratch Postgres, relaying its output line by line;
    `environment` adds variables for the child (e.g. MEMORY_LLM).

    Raises `BenchError` when the server does not start or the child fails.
    """
    try:
        SCRATCH.rerun(arguments, write=write, environment=environment)
    except ScratchError as exc:
        raise BenchError(str(exc)) from exc
