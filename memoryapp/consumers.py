"""Websocket consumers: authenticate, authorise, join groups, relay what workers send."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from memoryapp.middleware import DATABASE_UNAVAILABLE_ERRORS
from memoryapp.selectors.conversations import conversation_exists_for
from memoryapp.services.notifications import (
    CHANNEL_LAYER_ERRORS,
    conversation_group,
    user_group,
)

# Application close codes (4000-4999 are free for applications).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# The standard code for "Try Again Later" (RFC 6455 registry).
CLOSE_TRY_AGAIN_LATER = 1013

logger = logging.getLogger(__name__)


class DatabaseUnavailableClose:
    """Wraps Channels' AuthMiddlewareStack, which reads the signed-in user from the database
    before any route (and the consumers, which authorise with it): while the database is down,
    the handshake is closed as "try again later" (the page tries again with its back-off) with
    a one-line warning, instead of a 500 and a traceback for every attempt of every tab."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.inner(scope, receive, send)
        except DATABASE_UNAVAILABLE_ERRORS as exc:
            logger.warning(
                "websocket refused, the database is unavailable: %s", " ".join(str(exc).split())
            )
            await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})


class EventsConsumer(AsyncWebsocketConsumer):
    """One per browser tab. Joins the user's group and, on a conversation page, the group of
    that conversation (which must be the user's own). Receives htmx out-of-band fragments."""

    groups_joined: list[str]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except CHANNEL_LAYER_ERRORS as exc:
            # Redis went down under an open socket: closed as "try again later", which the
            # page does by itself, with a warning instead of a traceback for every tab.
            logger.warning("websocket closed, the channel layer is unavailable: %s", exc)
            await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})

    async def connect(self) -> None:
        self.groups_joined = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        groups = [user_group(user.pk)]
        conversation_id = self.scope.get("url_route", {}).get("kwargs", {}).get("conversation_id")
        if conversation_id is not None:
            if not await database_sync_to_async(conversation_exists_for)(
                owner=user, conversation_id=UUID(str(conversation_id))
            ):
                await self.close(code=CLOSE_FORBIDDEN)
                return
            groups.append(conversation_group(UUID(str(conversation_id))))
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
        except CHANNEL_LAYER_ERRORS as exc:
            # Redis is down: refused for now, and the page tries again by itself. A warning,
            # not a traceback for every attempt of every tab.
            logger.warning("websocket refused, the channel layer is unavailable: %s", exc)
            await self.close()
            return
        self.groups_joined = groups
        await self.accept()

    async def disconnect(self, code: int) -> None:
        try:
            for group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
        except CHANNEL_LAYER_ERRORS as exc:
            # Its membership expires in Redis by itself (channels_redis `group_expiry`).
            logger.warning("could not leave the groups, the channel layer is unavailable: %s", exc)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The browser sends nothing over this socket; messages are posted over HTTP."""

    async def html_fragment(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["html"])


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Closes a websocket whose path matches no route (Channels' router would fail the
    handshake with a 500 and log a traceback as an error)."""

    async def connect(self) -> None:
        await self.close(code=CLOSE_NOT_FOUND)
