"""`manage.py models list|download|use|recommend`."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from memoryapp.llm.models import DEMO_FILE
from memoryapp.models import ModelDownload
from memoryapp.services.model_manager.choice import active_choice
from tests.support.fake_hub import FakeHub
from tests.support.gguf_files import gguf_write

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("models", *args, stdout=out)
    return out.getvalue()


def test_list_then_use(models_dir: Path) -> None:
    gguf_write(models_dir / "tiny.gguf", context_length=8192)
    (models_dir / "junk.gguf").write_bytes(b"junk")

    listed = _run("list").splitlines()

    assert re.fullmatch(
        r"  tiny\.gguf  \d+ bytes  Q8_0  context 8192  template ChatML  "
        r"\(gpu layers 0, context size 4096\)",
        listed[1],
    ), listed
    assert listed[0].startswith("  junk.gguf  4 bytes  ERROR: Not a readable GGUF model file")
    assert listed[2].startswith(f"  {DEMO_FILE} (demo model)  93.8 MB  Q4_1  context 8192")
    assert listed[-1] == "No active model chosen: the workers load the settings' model."

    used = _run("use", "tiny.gguf", "--gpu-layers", "-1", "--context", "8192")

    assert used.startswith("tiny.gguf is the active model (gpu layers -1, context size 8192)")
    assert _run("list").splitlines()[1].startswith("* tiny.gguf")
    _run("use", "--settings")
    assert active_choice() is None


def test_use_refuses_what_cannot_be_used(models_dir: Path) -> None:
    gguf_write(models_dir / "tiny.gguf", context_length=2048)
    with pytest.raises(CommandError, match="between 512 and 2048 tokens"):
        _run("use", "tiny.gguf", "--context", "4096")
    with pytest.raises(CommandError, match=r"no model file called 'nope\.gguf'"):
        _run("use", "nope.gguf")
    with pytest.raises(CommandError, match="Name a file"):
        _run("use")


def test_download_prints_progress_and_verifies(models_dir: Path, hub: FakeHub) -> None:
    data = _gguf_bytes(models_dir)
    hub.repos["someone/tiny-GGUF"] = {"q8/tiny-Q8_0.gguf": data}

    out = _run("download", "someone/tiny-GGUF", "q8/tiny-Q8_0.gguf", "--revision", "main")

    lines = out.splitlines()
    assert lines[0] == "Downloading q8/tiny-Q8_0.gguf from someone/tiny-GGUF at main"
    assert re.fullmatch(r"[\d.]+ \w+ of [\d.]+ \w+ \(100%\)", lines[-2]), lines
    assert lines[-1] == (
        f"Downloaded tiny-Q8_0.gguf ({len(data)} bytes, SHA-256 "
        f"{hashlib.sha256(data).hexdigest()} verified)"
    )
    assert (models_dir / "tiny-Q8_0.gguf").read_bytes() == data
    # Queued for no worker: this command ran it.
    assert ModelDownload.objects.get().status == "done"


def test_download_errors_are_command_errors(models_dir: Path, hub: FakeHub) -> None:
    with pytest.raises(CommandError, match="There is no repository nobody/x on"):
        _run("download", "nobody/x", "x.gguf")
    with pytest.raises(CommandError, match="is not a GGUF file name"):
        _run("download", "nobody/x", "x.bin")


def test_recommend_names_the_machine_and_the_models(models_dir: Path) -> None:
    out = _run("recommend")

    assert re.match(r"RAM [\d.]+ GB; GPU: ", out)
    assert "models download bartowski/" in out


def _gguf_bytes(directory: Path) -> bytes:
    path = gguf_write(directory.parent / "source-model.gguf", name="From the hub")
    return path.read_bytes()
