"""Websocket consumers: authenticate, join the user's group, relay what workers send."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from memoryapp.services.notifications import user_group

# Application close code for "not signed in" (4000-4999 are free for applications).
CLOSE_UNAUTHENTICATED = 4401


class EventsConsumer(AsyncWebsocketConsumer):
    """One per browser tab: receives HTML fragments for this user (htmx ws extension)."""

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def user_html(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["html"])
