"""The events websocket: signed-in users only, and workers can reach it."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from memoryapp.asgi import application
from memoryapp.consumers import EventsConsumer
from tests.support.tasks import notify
from tests.support.workers import WorkerProcess


def _communicator(user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(EventsConsumer.as_asgi(), "/ws/events/")
    communicator.scope["user"] = user
    return communicator


@pytest.mark.asyncio
async def test_anonymous_connection_is_refused() -> None:
    communicator = _communicator(AnonymousUser())

    connected, code = await communicator.connect()

    assert not connected
    assert code == 4401


@pytest.mark.asyncio
async def test_full_stack_refuses_a_websocket_without_a_session() -> None:
    communicator = WebsocketCommunicator(
        application,
        "/ws/events/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )

    connected, _ = await communicator.connect()

    assert not connected


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_message_from_a_worker_process_reaches_the_browser(
    worker: WorkerProcess, django_user_model: Any
) -> None:
    from asgiref.sync import sync_to_async

    user = await sync_to_async(django_user_model.objects.create_user)("alice", password="pw")
    communicator = _communicator(user)
    connected, _ = await communicator.connect()
    assert connected

    await sync_to_async(lambda: notify.delay(user.pk, "<p id='x'>hello</p>").get(timeout=30))()

    assert await communicator.receive_from(timeout=10) == "<p id='x'>hello</p>"
    await communicator.disconnect()
