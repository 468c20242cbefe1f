"""Listing model files from their GGUF metadata, without loading them."""

from __future__ import annotations

from pathlib import Path

import gguf

from memoryapp.llm.models import DEMO_FILE, demo_model_path
from memoryapp.services.model_manager.files import model_file_path, model_files_list
from tests.support.gguf_files import gguf_write


def test_files_are_described_from_their_metadata(models_dir: Path) -> None:
    gguf_write(models_dir / "b-tiny.gguf", name="Tiny B", context_length=32768)
    gguf_write(
        models_dir / "a-plain.gguf",
        name="Plain",
        architecture="qwen2",
        context_length=None,
        file_type=gguf.LlamaFileType.MOSTLY_Q4_K_M,
        chat_template="{{ messages }}",
        layers=28,
    )

    files = model_files_list()

    assert [file.name for file in files] == ["a-plain.gguf", "b-tiny.gguf", DEMO_FILE]
    plain, tiny, _demo = files
    assert (plain.title, plain.architecture, plain.quantisation) == ("Plain", "qwen2", "Q4_K_M")
    assert (plain.context_length, plain.layers) == (None, 28)
    assert plain.chat_template == "custom ({{ messages }})"
    assert (tiny.quantisation, tiny.context_length, tiny.chat_template) == ("Q8_0", 32768, "ChatML")
    assert tiny.size == (models_dir / "b-tiny.gguf").stat().st_size
    assert not tiny.is_demo and all(file.ok for file in files)


def test_the_demo_model_is_listed_from_its_package(models_dir: Path) -> None:
    demo = next(file for file in model_files_list() if file.is_demo)

    assert demo.path == demo_model_path()
    assert demo.size == 98_362_432
    assert (demo.architecture, demo.quantisation, demo.context_length) == ("llama", "Q4_1", 8192)
    assert (demo.layers, demo.chat_template) == (30, "ChatML")


def test_a_file_without_quantisation_type_or_template_says_so(models_dir: Path) -> None:
    gguf_write(models_dir / "bare.gguf", file_type=None, chat_template=None, context_length=None)

    bare = model_files_list()[0]

    # Only float tensors: nothing is quantised; no template: llama.cpp needs LLM_CHAT_FORMAT.
    assert (bare.quantisation, bare.chat_template, bare.context_length) == ("", "", None)


def test_broken_files_are_listed_with_their_error(models_dir: Path) -> None:
    (models_dir / "notes.gguf").write_text("these are not the weights you are looking for")
    (models_dir / "empty.gguf").write_bytes(b"")
    demo = demo_model_path()
    assert demo is not None
    (models_dir / "truncated.gguf").write_bytes(demo.read_bytes()[:200_000])
    gguf_write(models_dir / "fine.gguf")

    files = {file.name: file for file in model_files_list()}

    assert files["fine.gguf"].ok
    assert "GGUF magic invalid" in files["notes.gguf"].error
    assert files["empty.gguf"].error.startswith("Not a readable GGUF model file")
    assert files["truncated.gguf"].error.startswith("Not a readable GGUF model file")
    assert files["truncated.gguf"].size == 200_000


def test_only_gguf_files_are_listed(models_dir: Path) -> None:
    gguf_write(models_dir / "model.gguf")
    (models_dir / "half.gguf.part").write_bytes(b"GGUF")
    (models_dir / "README.md").write_text("hello")
    (models_dir / "folder.gguf").mkdir()

    assert [file.name for file in model_files_list() if not file.is_demo] == ["model.gguf"]


def test_a_file_is_found_only_by_its_listed_name(models_dir: Path) -> None:
    gguf_write(models_dir / "model.gguf")

    assert model_file_path("model.gguf") == models_dir / "model.gguf"
    assert model_file_path(DEMO_FILE) == demo_model_path()
    for name in ("../model.gguf", "/etc/passwd", "model", "", "sub/model.gguf", "absent.gguf"):
        assert model_file_path(name) is None
