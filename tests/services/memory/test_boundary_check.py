"""A capable model may veto a topic boundary; time gaps stand; the demo model is not asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from memoryapp import segmentation
from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.services.memory.boundary_check import confirm_boundaries

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)


def _turns(*gaps_in_hours: float) -> list[segmentation.Turn]:
    times = [T0]
    for gap in gaps_in_hours:
        times.append(times[-1] + timedelta(hours=gap))
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    return [
        segmentation.Turn(text=f"turn {i}", embedding=vector, at=t) for i, t in enumerate(times)
    ]


def test_the_model_can_veto_a_content_boundary(settings: Any) -> None:
    settings.MEMORY_LLM = "on"
    turns = _turns(0.01, 0.01, 0.01)
    with use_backend(ScriptedBackend(['{"continues": true}'])) as llm:
        confirmed = confirm_boundaries(turns, [False, True, False, False], offset=0)

    assert confirmed == [False, False, False, False]
    assert llm is not None


def test_a_time_gap_boundary_is_never_sent_to_the_model(settings: Any) -> None:
    settings.MEMORY_LLM = "on"
    backend = ScriptedBackend([])
    with use_backend(backend):
        confirmed = confirm_boundaries(_turns(0.01, 30), [False, True, False], offset=0)

    assert confirmed == [False, True, False]
    assert backend.calls == []


def test_without_memory_llm_stages_nothing_is_asked(settings: Any) -> None:
    settings.MEMORY_LLM = "off"
    backend = ScriptedBackend([])
    with use_backend(backend):
        confirmed = confirm_boundaries(_turns(0.01, 0.01), [True, False, False], offset=0)

    assert confirmed == [True, False, False]
    assert backend.calls == []
