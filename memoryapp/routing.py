from __future__ import annotations

from django.urls import path

from memoryapp.consumers import EventsConsumer

websocket_urlpatterns = [
    path("ws/events/", EventsConsumer.as_asgi()),
    path("ws/c/<uuid:conversation_id>/", EventsConsumer.as_asgi()),
]
