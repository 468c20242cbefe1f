"""The stop flag and the chat-busy mark in Redis: a hung Redis does not hold a worker."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from memoryapp.services import answer_control


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """The URL of a server that accepts connections and never answers (a hung Redis)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def test_a_stop_check_against_a_hung_redis_gives_up_and_the_answer_goes_on(
    hung_redis: str, settings: Any
) -> None:
    settings.REDIS_URL = hung_redis
    results: list[bool] = []
    check = threading.Thread(
        target=lambda: results.append(answer_control.answer_stop_requested(answer_id="a")),
        daemon=True,
    )

    check.start()
    check.join(30)

    assert results == [False]


def test_one_client_is_kept_per_redis_url(settings: Any) -> None:
    first = answer_control._client()

    assert answer_control._client() is first
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert answer_control._client() is not first
