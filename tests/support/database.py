"""A real database outage for one test: this process's connection goes to a port nothing
listens on, as it does when Postgres is stopped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

from memoryapp.devstack.services import free_port


@contextmanager
def database_down() -> Iterator[None]:
    connection = connections["default"]
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["PORT"] = port
