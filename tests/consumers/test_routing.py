"""Websocket paths that match no route are closed with 4404, not failed with a traceback."""

from __future__ import annotations

import logging

import pytest
from channels.testing import WebsocketCommunicator

from memoryapp.asgi import application
from memoryapp.consumers import CLOSE_NOT_FOUND

HEADERS = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path", ["/ws/nope/", "/ws/c/not-a-uuid/", "/ws/events", "/", "/ws/events/extra/"]
)
async def test_an_unknown_websocket_path_is_closed_with_4404_and_logs_no_error(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    communicator = WebsocketCommunicator(application, path, headers=HEADERS)

    connected, code = await communicator.connect()

    assert not connected
    assert code == CLOSE_NOT_FOUND
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    await communicator.wait()
