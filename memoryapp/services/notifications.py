"""Pushing to a user's open browser tabs through the Channels layer (from any process)."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def user_group(user_id: int) -> str:
    """The channel-layer group that every websocket of this user joins."""
    return f"user-{user_id}"


def user_notify(*, user_id: int, html: str) -> None:
    """Send an HTML fragment (already escaped/rendered by a template) to the user's browsers.

    Safe to call from Celery workers and other sync code; not from inside an event loop.
    """
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "user.html", "html": html})
