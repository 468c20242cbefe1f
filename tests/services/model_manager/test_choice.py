"""Choosing the active model: validation, one active model, per-file settings, and what
follows from it (the demo flag, memory's LLM stages, the process's LLM)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from memoryapp.llm import get_llm, set_backend_for_tests, use_backend
from memoryapp.llm.models import DEMO_FILE, ModelChoice, demo_model_path
from memoryapp.llm.registry import llm_follow, llm_status
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import LocalModel
from memoryapp.selectors.memory_page import memory_llm_stages_on
from memoryapp.services.model_manager.choice import (
    active_choice,
    active_model_is_demo,
    model_activate,
    model_choice_clear,
)
from tests.support.gguf_files import gguf_write

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny(models_dir: Path) -> Path:
    return gguf_write(models_dir / "tiny.gguf", context_length=8192)


@pytest.fixture
def fresh_llm() -> Iterator[None]:
    """The process's LLM forgotten before and after (no test backend in place)."""
    set_backend_for_tests(None)
    yield
    set_backend_for_tests(None)


def test_a_file_becomes_the_only_active_model(tiny: Path, settings: Any) -> None:
    settings.MEMORY_LLM = "auto"
    assert active_choice() is None and active_model_is_demo() and not memory_llm_stages_on()

    model_activate(name="tiny.gguf", gpu_layers=12, context_size=2048)

    assert active_choice() == ModelChoice(
        path=tiny, is_demo=False, gpu_layers=12, context_size=2048
    )
    assert not active_model_is_demo()
    assert memory_llm_stages_on()  # MEMORY_LLM=auto: on with a model that is not the demo

    model_activate(name=DEMO_FILE)

    choice = active_choice()
    assert choice is not None and choice.is_demo and choice.path == demo_model_path()
    assert not memory_llm_stages_on()
    assert list(LocalModel.objects.filter(active=True).values_list("filename", flat=True)) == [
        DEMO_FILE
    ]


def test_each_file_keeps_its_own_settings(tiny: Path, settings: Any) -> None:
    settings.LLM_GPU_LAYERS, settings.LLM_CONTEXT_SIZE = 0, 4096
    model_activate(name="tiny.gguf", gpu_layers=-1, context_size=8192)
    demo = model_activate(name=DEMO_FILE)
    assert (demo.gpu_layers, demo.context_size) == (0, 4096)  # the settings' defaults

    again = model_activate(name="tiny.gguf")

    assert (again.gpu_layers, again.context_size) == (-1, 8192)


def test_going_back_to_the_settings_model(tiny: Path, settings: Any) -> None:
    settings.MEMORY_LLM = "auto"
    model_activate(name="tiny.gguf")

    model_choice_clear()

    assert active_choice() is None and active_model_is_demo()
    assert LocalModel.objects.get(filename="tiny.gguf").context_size == settings.LLM_CONTEXT_SIZE


def test_memory_llm_off_stays_off_with_a_real_model(tiny: Path, settings: Any) -> None:
    settings.MEMORY_LLM = "off"
    model_activate(name="tiny.gguf")

    assert not memory_llm_stages_on()


@pytest.mark.parametrize(
    ("name", "gpu_layers", "context_size", "message"),
    [
        ("absent.gguf", None, None, "There is no model file called 'absent.gguf'"),
        ("../tiny.gguf", None, None, "There is no model file called"),
        ("broken.gguf", None, None, "broken.gguf cannot be used: Not a readable GGUF"),
        ("tiny.gguf", -2, None, "GPU layers must be -1"),
        ("tiny.gguf", None, 100, "between 512 and 8192 tokens"),
        ("tiny.gguf", None, 16384, "between 512 and 8192 tokens"),
    ],
)
def test_bad_choices_are_refused(
    tiny: Path,
    models_dir: Path,
    name: str,
    gpu_layers: int | None,
    context_size: int | None,
    message: str,
) -> None:
    (models_dir / "broken.gguf").write_bytes(b"not a model")

    with pytest.raises(ValidationError, match=message):
        model_activate(name=name, gpu_layers=gpu_layers, context_size=context_size)

    assert active_choice() is None


def test_the_process_llm_follows_a_choice_without_loading(tiny: Path, fresh_llm: None) -> None:
    choice = ModelChoice(path=tiny, is_demo=False, gpu_layers=3, context_size=1024)

    llm, replaced = llm_follow(choice)

    assert replaced is None and get_llm() is llm
    assert llm_status() == {
        "state": "not_loaded",
        "model": "tiny.gguf",
        "path": str(tiny),
        "source": "chosen",
        "demo": False,
        "context_size": 1024,
        "gpu_layers": 3,
        "error": None,
    }
    assert llm_follow(choice) == (llm, None)  # the same choice: nothing to do

    demo = demo_model_path()
    assert demo is not None
    other, replaced = llm_follow(ModelChoice(demo, True, 0, 2048))

    assert replaced is llm and get_llm() is other
    assert (llm_status()["source"], llm_status()["demo"]) == ("demo", True)
    other, replaced = llm_follow(None)  # back to the settings' model
    assert replaced is not None and llm_status()["source"] == "demo"


def test_a_test_backend_is_never_replaced(tiny: Path, fresh_llm: None) -> None:
    backend = ScriptedBackend(["scripted"])
    with use_backend(backend) as llm:
        assert llm_follow(ModelChoice(tiny, False, 0, 1024)) == (llm, None)
        assert get_llm().info.source == "scripted"


def test_a_choice_reaches_llama_cpp_as_its_arguments(tiny: Path) -> None:
    """GPU layers and context size per model, as llama.cpp is given them (this machine has no
    GPU: the plumbing is what can be checked here)."""
    from memoryapp.llm.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend.from_choice(ModelChoice(tiny, False, 7, 1536))

    arguments = backend._llama_arguments()
    assert (arguments["model_path"], arguments["n_gpu_layers"], arguments["n_ctx"]) == (
        str(tiny),
        7,
        1536,
    )
    assert (backend.info.source, backend.info.is_demo, backend.info.gpu_layers) == (
        "chosen",
        False,
        7,
    )
