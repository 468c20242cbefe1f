"""A person's memory held by another session, as a consolidation under way holds it (the
advisory lock of `locks.owner_lock`), for tests of what waits for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection

from memoryapp.services.memory.locks import OWNER_LOCK_NAMESPACE


@contextmanager
def memory_locked_elsewhere(owner_id: int) -> Iterator[None]:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [OWNER_LOCK_NAMESPACE, owner_id])
        yield
