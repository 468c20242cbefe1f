"""Running a memory evaluation against throw-away servers, never the person's database.

`memory_eval locomo|longmemeval` imports thousands of turns as users; that must not touch
the data of the running application. The command runs itself again on scratch servers (a
Postgres and a Redis, see `memoryapp.devstack.scratch`); that child migrates the empty
database, runs the benchmark and exits, and the servers are then removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.core.management import call_command

from memoryapp.devstack.scratch import Scratch, ScratchError
from memoryapp.evaluation import EvaluationError

SCRATCH = Scratch(
    variable="MEMORYAPP_EVAL_SCRATCH_DATABASE",
    database="memoryapp_eval",
    prefix="memoryapp-eval-",
    redis=True,  # building memory notifies through the Channels layer, which needs Redis
)
SCRATCH_VARIABLE = SCRATCH.variable


def in_scratch_database() -> bool:
    """Whether this process is the child, running on the scratch database."""
    return SCRATCH.in_scratch_database()


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
    try:
        SCRATCH.rerun(["memory_eval", *arguments], environment=environment, write=write)
    except ScratchError as exc:
        raise EvaluationError(str(exc)) from exc
