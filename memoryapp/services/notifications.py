"""Pushing HTML fragments to open browser tabs through the Channels layer (from any process).

Fragments are htmx out-of-band swaps rendered from templates, so every value in them has been
escaped by the template engine or by `escape()`.

A fragment that cannot be sent (Redis is down) is logged and dropped, never raised into the
answer or the request that sent it: what it showed is in the database, and a tab fetches
it again when its websocket reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any
from uuid import UUID

import redis
from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

# What the channel layer raises while its Redis is down or restarting.
CHANNEL_LAYER_ERRORS = (redis.RedisError, OSError)


def user_group(user_id: int) -> str:
    """Every websocket of this user joins this group (sidebar, notices)."""
    return f"user-{user_id}"


def conversation_group(conversation_id: UUID) -> str:
    """Websockets showing this conversation join this group (streamed answers)."""
    return f"conversation-{conversation_id.hex}"


class _ThreadLoop(threading.local):
    """This thread's own event loop for the channel layer, made on first use (per process)."""

    pid = 0
    loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        if self.loop is None or self.pid != os.getpid():
            self.loop, self.pid = asyncio.new_event_loop(), os.getpid()
        return self.loop


_thread_loop = _ThreadLoop()


def _in_async_context_thread() -> bool:
    """Whether this thread runs sync code for an event loop (`sync_to_async`, as Django's
    views under daphne), where `async_to_sync` sends through that loop, as asgiref decides."""
    local = SyncToAsync.threadlocal
    return (
        getattr(local, "main_event_loop_pid", None) == os.getpid()
        and getattr(local, "main_event_loop", None) is not None
    )


def _send(group: str, html: str) -> None:
    layer = get_channel_layer()
    message: dict[str, Any] = {"type": "html.fragment", "html": html}
    try:
        if not _in_async_context_thread():
            # Not called from an async context's thread (a Celery worker, a command): there,
            # `async_to_sync` would make a new event loop in a new thread for each call, and
            # the layer a new Redis connection for that loop, 6-10 ms a fragment on a busy
            # machine (two of them before an answer's first words). This thread's own loop
            # keeps its connection: 0.2-0.3 ms.
            _thread_loop.get().run_until_complete(layer.group_send(group, message))
        else:
            async_to_sync(layer.group_send)(group, message)
    except CHANNEL_LAYER_ERRORS as exc:
        logger.warning("could not send a fragment to %s: %s", group, exc)


def user_notify(*, user_id: int, html: str) -> None:
    """Send a fragment to all of the user's tabs. Not for use inside an event loop."""
    _send(user_group(user_id), html)


def conversation_notify(*, conversation_id: UUID, html: str) -> None:
    """Send a fragment to the tabs showing this conversation. Not inside an event loop."""
    _send(conversation_group(conversation_id), html)
