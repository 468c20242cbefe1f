"""Pushing HTML fragments to open browser tabs through the Channels layer (from any process).

Fragments are htmx out-of-band swaps rendered from templates, so every value in them has been
escaped by the template engine or by `escape()`.
"""

from __future__ import annotations

from uuid import UUID

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def user_group(user_id: int) -> str:
    """Every websocket of this user joins this group (sidebar, notices)."""
    return f"user-{user_id}"


def conversation_group(conversation_id: UUID) -> str:
    """Websockets showing this conversation join this group (streamed answers)."""
    return f"conversation-{conversation_id.hex}"


def _send(group: str, html: str) -> None:
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(group, {"type": "html.fragment", "html": html})


def user_notify(*, user_id: int, html: str) -> None:
    """Send a fragment to all of the user's tabs. Not for use inside an event loop."""
    _send(user_group(user_id), html)


def conversation_notify(*, conversation_id: UUID, html: str) -> None:
    """Send a fragment to the tabs showing this conversation. Not inside an event loop."""
    _send(conversation_group(conversation_id), html)
