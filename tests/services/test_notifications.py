"""Fragments sent from sync code outside any event loop (as the chat worker sends them) reach
the group's channels through the real Redis channel layer, on one event loop per thread."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from memoryapp.services import notifications
from memoryapp.services.notifications import conversation_group, conversation_notify


def _listen(group: str) -> str:
    layer = get_channel_layer()
    channel: str = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def _receive(channel: str) -> dict[str, Any]:
    async def receive() -> dict[str, Any]:
        return await asyncio.wait_for(get_channel_layer().receive(channel), timeout=5)

    return async_to_sync(receive)()


def test_fragments_from_a_worker_thread_arrive_in_order_through_one_loop() -> None:
    conversation_id = uuid.uuid4()
    channel = _listen(conversation_group(conversation_id))

    conversation_notify(conversation_id=conversation_id, html="<p>one</p>")
    loop = notifications._thread_loop.loop
    conversation_notify(conversation_id=conversation_id, html="<p>two</p>")

    assert loop is not None and notifications._thread_loop.loop is loop
    assert not loop.is_closed() and not loop.is_running()
    assert _receive(channel) == {"type": "html.fragment", "html": "<p>one</p>"}
    assert _receive(channel) == {"type": "html.fragment", "html": "<p>two</p>"}


def test_another_thread_sends_through_a_loop_of_its_own() -> None:
    conversation_id = uuid.uuid4()
    channel = _listen(conversation_group(conversation_id))
    conversation_notify(conversation_id=conversation_id, html="<p>main</p>")
    loops: list[asyncio.AbstractEventLoop | None] = []

    def send() -> None:
        conversation_notify(conversation_id=conversation_id, html="<p>thread</p>")
        loops.append(notifications._thread_loop.loop)

    thread = threading.Thread(target=send)
    thread.start()
    thread.join()

    assert loops[0] is not None and loops[0] is not notifications._thread_loop.loop
    assert {_receive(channel)["html"], _receive(channel)["html"]} == {
        "<p>main</p>",
        "<p>thread</p>",
    }


def test_sync_code_run_for_an_event_loop_sends_through_that_loop() -> None:
    """As Django's views under daphne: `sync_to_async` code sends on the outer loop."""
    conversation_id = uuid.uuid4()
    channel = _listen(conversation_group(conversation_id))
    used: list[asyncio.AbstractEventLoop | None] = []

    def view() -> None:
        conversation_notify(conversation_id=conversation_id, html="<p>view</p>")
        used.append(notifications._thread_loop.loop)

    async def serve() -> None:
        await sync_to_async(view, thread_sensitive=False)()

    async_to_sync(serve)()

    assert used == [None]  # that thread never made a loop of its own
    assert _receive(channel)["html"] == "<p>view</p>"
