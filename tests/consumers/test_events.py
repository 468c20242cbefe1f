"""The events websocket: signed-in users only, own conversations only, and workers reach it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, User

from memoryapp.asgi import application
from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Conversation
from memoryapp.routing import websocket_urlpatterns
from memoryapp.services.conversations import message_send
from memoryapp.tasks import answer_message
from tests import factories
from tests.support.tasks import notify
from tests.support.workers import WorkerProcess

router = URLRouter(websocket_urlpatterns)


def _communicator(user: Any, path: str = "/ws/events/") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(router, path)
    communicator.scope["user"] = user
    return communicator


async def _receive_until(communicator: WebsocketCommunicator, marker: str) -> list[str]:
    frames = []
    while True:
        frame = await communicator.receive_from(timeout=10)
        frames.append(frame)
        if marker in frame:
            return frames


@pytest.mark.asyncio
async def test_anonymous_connection_is_refused() -> None:
    communicator = _communicator(AnonymousUser())

    connected, code = await communicator.connect()

    assert not connected
    assert code == 4401


@pytest.mark.asyncio
async def test_full_stack_refuses_a_websocket_without_a_session() -> None:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)

    connected, _ = await communicator.connect()

    assert not connected


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_another_users_conversation_is_refused() -> None:
    alice = await sync_to_async(factories.user)("alice")
    bob = await sync_to_async(factories.user)("bob")
    bobs_chat = await sync_to_async(factories.conversation)(bob)

    communicator = _communicator(alice, f"/ws/c/{bobs_chat.pk}/")
    connected, code = await communicator.connect()

    assert not connected
    assert code == 4403


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_answer_streams_to_the_conversation_and_ends_rendered() -> None:
    alice: User = await sync_to_async(factories.user)("alice")
    chat: Conversation = await sync_to_async(factories.conversation)(alice)
    communicator = _communicator(alice, f"/ws/c/{chat.pk}/")
    connected, _ = await communicator.connect()
    assert connected
    _, answer = await sync_to_async(message_send)(conversation=chat, content="Hi <b>there</b>")
    reply = "Hello! Here is *emphasis* and <script>window.x=1</script> as text."

    def run_answer_job() -> None:
        with use_backend(ScriptedBackend([reply, "Greetings"])):
            answer_message.apply(args=(str(answer.pk),))

    await sync_to_async(run_answer_job)()
    frames = await _receive_until(communicator, f'id="msg-{answer.pk}"')

    pieces = [f for f in frames if f'id="stream-{answer.pk}"' in f]
    assert pieces, "no streamed piece arrived"
    streamed = re.sub(r"^<div[^>]*>|</div>$", "", pieces[-1])  # each carries the text so far
    assert "&lt;script&gt;" in streamed and "<script>" not in streamed
    final = frames[-1]
    assert 'hx-swap-oob="outerHTML"' in final
    assert "<em>emphasis</em>" in final
    assert "<script>" not in final
    await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_message_from_a_worker_process_reaches_the_browser(worker: WorkerProcess) -> None:
    user = await sync_to_async(factories.user)("alice")
    communicator = _communicator(user)
    connected, _ = await communicator.connect()
    assert connected

    await sync_to_async(lambda: notify.delay(user.pk, "<p id='x'>hello</p>").get(timeout=30))()

    assert await communicator.receive_from(timeout=10) == "<p id='x'>hello</p>"
    await communicator.disconnect()
