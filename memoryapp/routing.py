from __future__ import annotations

from django.urls import path, re_path

from memoryapp.consumers import EventsConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/events/", EventsConsumer.as_asgi()),
    path("ws/c/<uuid:conversation_id>/", EventsConsumer.as_asgi()),
    # Last: any other path.
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
