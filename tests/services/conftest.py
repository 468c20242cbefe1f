"""Fixtures shared by the service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend


@pytest.fixture
def backend() -> Iterator[ScriptedBackend]:
    """The scripted model stands in for llama.cpp while the test runs."""
    scripted = ScriptedBackend()
    with use_backend(scripted):
        yield scripted
