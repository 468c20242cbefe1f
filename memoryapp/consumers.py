"""Websocket consumers: authenticate, authorise, join groups, relay what workers send."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from memoryapp.selectors.conversations import conversation_exists_for
from memoryapp.services.notifications import conversation_group, user_group

# Application close codes (4000-4999 are free for applications).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class EventsConsumer(AsyncWebsocketConsumer):
    """One per browser tab. Joins the user's group and, on a conversation page, the group of
    that conversation (which must be the user's own). Receives htmx out-of-band fragments."""

    groups_joined: list[str]

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
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The browser sends nothing over this socket; messages are posted over HTTP."""

    async def html_fragment(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["html"])


class UnknownPathConsumer(AsyncWebsocketConsumer):
    """Closes a websocket whose path matches no route (Channels' router would fail the
    handshake with a 500 and log a traceback as an error)."""

    async def connect(self) -> None:
        await self.close(code=CLOSE_NOT_FOUND)
