"""Pushing HTML fragments to open browser tabs through the Channels layer (from any process).

Fragments are htmx out-of-band swaps rendered from templates, so every value in them has been
escaped by the template engine or by `escape()`.

A fragment that cannot be sent (Redis is down) is logged and dropped, never raised into the
answer or the request that sent it: what it showed is in the database, and a tab fetches
it again when its websocket reconnects.
"""

from __future__ import annotations

import logging
from uuid import UUID

import redis
from asgiref.sync import async_to_sync
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


def _send(group: str, html: str) -> None:
    layer = get_channel_layer()
    try:
        async_to_sync(layer.group_send)(group, {"type": "html.fragment", "html": html})
    except CHANNEL_LAYER_ERRORS as exc:
        logger.warning("could not send a fragment to %s: %s", group, exc)


def user_notify(*, user_id: int, html: str) -> None:
    """Send a fragment to all of the user's tabs. Not for use inside an event loop."""
    _send(user_group(user_id), html)


def conversation_notify(*, conversation_id: UUID, html: str) -> None:
    """Send a fragment to the tabs showing this conversation. Not inside an event loop."""
    _send(conversation_group(conversation_id), html)
