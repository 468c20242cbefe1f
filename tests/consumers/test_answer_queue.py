"""Waiting answers' bubbles follow the queue: when an answer is finished, the tabs of every
conversation with an answer still waiting get its new place (a count, nothing of whose); when
an answer is taken, its own tabs stop saying it waits."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Conversation, Message
from memoryapp.routing import websocket_urlpatterns
from memoryapp.services.answer_control import answer_stop_request
from memoryapp.services.conversations import message_send
from memoryapp.tasks import answer_message
from tests import factories

BOB = "bobmark"


async def _listen(user: Any, chat: Conversation) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/c/{chat.pk}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _receive_until(communicator: WebsocketCommunicator, marker: str) -> list[str]:
    frames = []
    while True:
        frames.append(await communicator.receive_from(timeout=10))
        if marker in frames[-1]:
            return frames


async def _ask(chat: Conversation, text: str) -> Message:
    _, answer = await sync_to_async(message_send)(conversation=chat, content=text)
    return answer


def _answer_job(answer: Message, reply: str) -> None:
    with use_backend(ScriptedBackend([reply, "A title"])):
        answer_message.apply(args=(str(answer.pk),))


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_finished_answer_moves_the_others_up() -> None:
    alice = await sync_to_async(factories.user)("alice")
    bob = await sync_to_async(factories.user)("bob")
    bobs_chat = await sync_to_async(factories.conversation)(bob, BOB)
    bobs_first = await _ask(bobs_chat, f"{BOB} one")
    await _ask(bobs_chat, f"{BOB} two")
    alices_chat = await sync_to_async(factories.conversation)(alice)
    alices = await _ask(alices_chat, "Mine?")
    alice_tab = await _listen(alice, alices_chat)

    await sync_to_async(_answer_job)(bobs_first, f"{BOB} reply")
    frames = await _receive_until(alice_tab, f'id="waiting-{alices.pk}"')

    assert 'hx-swap-oob="outerHTML"' in frames[-1]
    assert "waiting: 1 answer ahead" in frames[-1]
    assert not any(BOB in frame or str(bobs_first.pk) in frame for frame in frames)
    await alice_tab.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_taken_answer_no_longer_says_it_waits() -> None:
    alice = await sync_to_async(factories.user)("alice")
    chat = await sync_to_async(factories.conversation)(alice)
    answer = await _ask(chat, "Hello?")
    tab = await _listen(alice, chat)

    await sync_to_async(_answer_job)(answer, "Hello!")
    frames = await _receive_until(tab, f'id="msg-{answer.pk}"')

    removal = next(i for i, f in enumerate(frames) if f'id="waiting-{answer.pk}"' in f)
    assert 'hx-swap-oob="delete"' in frames[removal]
    first_piece = next(i for i, f in enumerate(frames) if f'id="stream-{answer.pk}"' in f)
    assert removal < first_piece
    await tab.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_waiting_answer_stopped_moves_the_others_up() -> None:
    alice = await sync_to_async(factories.user)("alice")
    bob = await sync_to_async(factories.user)("bob")
    bobs_chat = await sync_to_async(factories.conversation)(bob, BOB)
    bobs = await _ask(bobs_chat, f"{BOB} one")
    alices_chat = await sync_to_async(factories.conversation)(alice)
    alices = await _ask(alices_chat, "Mine?")
    alice_tab = await _listen(alice, alices_chat)

    await sync_to_async(answer_stop_request)(answer=bobs)
    frames = await _receive_until(alice_tab, f'id="waiting-{alices.pk}"')

    assert "waiting: 1 answer ahead" not in frames[-1]
    assert "answer ahead" not in frames[-1] and "answers ahead" not in frames[-1]
    assert not any(BOB in frame or str(bobs.pk) in frame for frame in frames)
    await alice_tab.disconnect()
