"""The "memory updated" notice reaches the person's open tabs, escaped, with its undo."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import MemoryChangeset
from memoryapp.routing import websocket_urlpatterns
from memoryapp.services.memory.consolidation import segment_consolidate
from tests import factories

DIGEST = json.dumps(
    {"title": "Pets", "summary": "Alice talked about her dog.", "key": "Alice: my dog is Pixel"}
)
EXTRACTION = json.dumps(
    {
        "facts": [
            {
                "text": "Alice has a dog named <b>Pixel</b>.",
                "kind": "possession",
                "subject": "Alice",
                "time": None,
                "confidence": 1.0,
                "sources": [1],
            }
        ]
    }
)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_consolidation_notifies_with_the_changes_and_an_undo(settings: Any) -> None:
    settings.MEMORY_LLM = "on"
    alice = await sync_to_async(factories.user)("alice")

    def closed_segment() -> Any:
        chat = factories.conversation(alice)
        return factories.closed_segment(chat, [factories.message(chat, "My dog is Pixel.")])

    segment = await sync_to_async(closed_segment)()
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/events/")
    communicator.scope["user"] = alice
    connected, _ = await communicator.connect()
    assert connected

    def consolidate() -> None:
        with use_backend(ScriptedBackend([DIGEST, EXTRACTION])):
            segment_consolidate(segment_id=segment.pk)

    await sync_to_async(consolidate)()
    frame = await communicator.receive_from(timeout=10)

    changeset = await sync_to_async(MemoryChangeset.objects.get)(owner=alice)
    assert 'hx-swap-oob="beforeend:#memory-notices"' in frame
    assert "Memory updated" in frame
    assert "Learned: Alice has a dog named &lt;b&gt;Pixel&lt;/b&gt;." in frame
    assert f"/memory/changesets/{changeset.pk}/undo" in frame
    await communicator.disconnect()
