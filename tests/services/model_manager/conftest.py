"""A models directory of the test's own (LLM_MODEL_DIR), and the fake hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_hub import FakeHub


@pytest.fixture
def models_dir(tmp_path: Path, settings: Any) -> Path:
    directory = tmp_path / "models"
    directory.mkdir()
    settings.LLM_MODEL_DIR = directory
    return directory


@pytest.fixture
def hub(settings: Any) -> Iterator[FakeHub]:
    server = FakeHub().start()
    settings.LLM_HUB_ENDPOINT = server.url
    settings.LLM_HUB_TOKEN = ""
    try:
        yield server
    finally:
        server.stop()
