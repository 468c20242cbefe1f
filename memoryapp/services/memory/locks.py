"""The person's memory lock: one writer of a person's memory at a time (a consolidation, a
correction, a forget, an undo, an import), a Postgres advisory lock per owner."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.db import connection

# Namespace of the per-owner advisory lock that serialises memory writes of one person.
OWNER_LOCK_NAMESPACE = 7305
# How long a page waits for the lock before saying the memory is busy (`owner_lock(busy=)`):
# less than htmx's timeout (static/js/app.js), so the page hears the reason.
LOCK_WAIT_SECONDS = 20.0
LOCK_POLL_SECONDS = 0.2


class MemoryBusy(ValidationError):
    """The person's memory stayed locked by a job (a consolidation) for LOCK_WAIT_SECONDS: a
    refusal that changed nothing, said where the person acted, like any other."""

    def __str__(self) -> str:
        return self.messages[0]


@contextlib.contextmanager
def owner_lock(owner_id: int, *, busy: str | None = None) -> Iterator[None]:
    """Hold the person's memory lock (released when the block ends, or if the worker dies).
    A job waits for it as long as it takes. With `busy` (what was not done, "nothing was
    forgotten"), for a page, waits at most LOCK_WAIT_SECONDS (a consolidation holds the lock
    while the model works), then raises MemoryBusy saying so rather than hang."""
    if busy is None:
        _execute("SELECT pg_advisory_lock(%s, %s)", owner_id)
    else:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not _execute("SELECT pg_try_advisory_lock(%s, %s)", owner_id):
            if time.monotonic() >= deadline:
                raise MemoryBusy(
                    f"Your memory is being updated right now; {busy}. Try again in a minute."
                )
            time.sleep(LOCK_POLL_SECONDS)
    try:
        yield
    finally:
        _execute("SELECT pg_advisory_unlock(%s, %s)", owner_id)


def _execute(sql: str, owner_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(sql, [OWNER_LOCK_NAMESPACE, owner_id])
        row = cursor.fetchone()
    return bool(row and row[0])
