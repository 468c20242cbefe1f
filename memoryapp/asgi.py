"""ASGI entry point: Django for HTTP, Channels for websockets (signed-in users only)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryapp.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from memoryapp.consumers import DatabaseUnavailableClose  # noqa: E402
from memoryapp.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            DatabaseUnavailableClose(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
