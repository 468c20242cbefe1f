"""The channel layer across a Redis restart: the first websocket afterwards is accepted (not
refused on a dead pooled connection), and fragments sent while Redis is down are dropped with
a warning instead of failing the answer that sends them.

The layer's Redis is one of the test's own, really stopped and started again.
"""

from __future__ import annotations

import copy
import logging
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from memoryapp.devstack.services import EmbeddedRedis
from memoryapp.routing import websocket_urlpatterns
from memoryapp.services.notifications import conversation_notify
from tests import factories

router = URLRouter(websocket_urlpatterns)


@pytest.fixture
def layer_redis(own_redis: EmbeddedRedis, settings: Any) -> EmbeddedRedis:
    """A Redis of this test's own behind the channel layer (the layer is rebuilt for it)."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    layers["default"]["CONFIG"]["hosts"][0]["address"] = own_redis.url()
    settings.CHANNEL_LAYERS = layers
    return own_redis


@pytest.fixture
def alice(transactional_db: None) -> User:
    """Made here, in the test's own thread: the consumer needs no query for it."""
    return factories.user("alice")


def _communicator(user: User) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(router, "/ws/events/")
    communicator.scope["user"] = user
    return communicator


@pytest.mark.asyncio
async def test_the_first_websocket_after_redis_restarts_is_accepted(
    layer_redis: EmbeddedRedis, alice: User
) -> None:
    before = _communicator(alice)
    assert (await before.connect())[0]
    await before.disconnect()

    await sync_to_async(layer_redis.stop)()
    await sync_to_async(layer_redis.start)()
    after = _communicator(alice)
    connected, _ = await after.connect()

    assert connected
    await after.disconnect()


def test_a_fragment_sent_while_redis_is_down_is_dropped_with_a_warning(
    layer_redis: EmbeddedRedis, caplog: pytest.LogCaptureFixture
) -> None:
    layer_redis.stop()

    with caplog.at_level(logging.WARNING, logger="memoryapp.services.notifications"):
        conversation_notify(conversation_id=uuid.uuid4(), html="<p>lost</p>")

    assert "could not send a fragment" in caplog.text


@pytest.mark.asyncio
async def test_a_websocket_while_redis_is_down_is_refused_for_now_and_closes_quietly(
    layer_redis: EmbeddedRedis, alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    open_tab = _communicator(alice)
    assert (await open_tab.connect())[0]
    await sync_to_async(layer_redis.stop)()

    with caplog.at_level(logging.WARNING, logger="memoryapp.consumers"):
        await open_tab.disconnect()
        connected, _ = await _communicator(alice).connect()

    assert not connected  # the page tries again by itself
    assert [r.exc_info for r in caplog.records if r.exc_info] == []
    assert "channel layer" in caplog.text
