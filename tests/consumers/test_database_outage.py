"""While the database is down, a websocket handshake (which reads the signed-in user from the
database before any route) is closed as "try again later" with one warning line, not failed
with a 500 and a traceback; the page's reconnect back-off tries again.

The handshake runs through async_to_sync, so that its database calls run in this thread,
whose connection `database_down()` points at a port nothing listens on.
"""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from memoryapp.asgi import application
from memoryapp.consumers import CLOSE_TRY_AGAIN_LATER
from tests import factories
from tests.support.database import database_down

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie() -> bytes:
    client = Client()
    client.force_login(factories.user("alice"))
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _handshake(path: str, cookie: bytes) -> tuple[bool, int | str | None]:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    if connected:
        await communicator.disconnect()
    else:
        await communicator.wait()
    return connected, code


@pytest.mark.parametrize("path", ["/ws/events/", "/ws/nope/"])
def test_a_handshake_while_the_database_is_down_is_closed_try_again_later(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    cookie = _session_cookie()

    with database_down():
        connected, code = async_to_sync(_handshake)(path, cookie)

    assert (connected, code) == (False, CLOSE_TRY_AGAIN_LATER)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    [warning] = [r for r in caplog.records if r.name == "memoryapp.consumers"]
    assert warning.levelno == logging.WARNING
    assert "database is unavailable" in warning.getMessage()
    assert "\n" not in warning.getMessage()
    assert warning.exc_info is None


def test_with_the_database_back_the_next_handshake_connects() -> None:
    cookie = _session_cookie()
    with database_down():
        async_to_sync(_handshake)("/ws/events/", cookie)

    connected, _ = async_to_sync(_handshake)("/ws/events/", cookie)

    assert connected
