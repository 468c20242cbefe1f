"""Sampling options per model: llama.cpp's defaults, the demo model's tuned entry, and the
settings (LLM_TOP_P, LLM_REPEAT_PENALTY, ...) over both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from memoryapp.llm.llamacpp import LlamaCppBackend
from memoryapp.llm.models import DEMO_FILE, MODEL_SAMPLING, Sampling, sampling_for
from tests.support.workers import PROJECT_DIR

OTHER_MODEL = "Qwen2.5-7B-Instruct-Q4_K_M.gguf"


def test_the_demo_model_has_tuned_sampling_and_other_models_llama_cpp_defaults(
    settings: Settings,
) -> None:
    settings.LLM_SAMPLING = {}

    demo = sampling_for(DEMO_FILE)

    assert demo.repeat_penalty > 1.0
    assert demo.repeat_last_n > Sampling().repeat_last_n
    assert sampling_for(OTHER_MODEL) == Sampling()
    assert Sampling().arguments(structured=False) == {
        "top_p": 0.95,
        "top_k": 40,
        "min_p": 0.05,
        "repeat_penalty": 1.0,
        "frequency_penalty": 0.0,
        "presence_penalty": 0.0,
    }


def test_settings_override_the_models_own_options(settings: Settings) -> None:
    settings.LLM_SAMPLING = {"repeat_penalty": 1.3, "top_k": 20}

    demo, other = sampling_for(DEMO_FILE), sampling_for(OTHER_MODEL)

    assert (demo.repeat_penalty, demo.top_k) == (1.3, 20)
    assert demo.repeat_last_n == dict(MODEL_SAMPLING)["smollm2-135m"].repeat_last_n
    assert (other.repeat_penalty, other.top_k, other.top_p) == (1.3, 20, 0.95)


def test_an_unknown_option_is_refused(settings: Settings) -> None:
    settings.LLM_SAMPLING = {"mirostat": 2}

    with pytest.raises(ValueError, match="mirostat"):
        sampling_for(DEMO_FILE)


def test_the_environment_variables_reach_the_settings() -> None:
    code = "from django.conf import settings; import json; print(json.dumps(settings.LLM_SAMPLING))"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "memoryapp.settings",
        "LLM_REPEAT_PENALTY": "1.2",
        "LLM_TOP_K": "30",
        "LLM_MAX_TEMPERATURE": "0.5",
    }
    env.pop("LLM_TOP_P", None)

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_DIR, env=env, capture_output=True, text=True
    )

    assert json.loads(result.stdout) == {
        "repeat_penalty": 1.2,
        "top_k": 30,
        "max_temperature": 0.5,
    }, result.stderr


def test_penalties_apply_to_free_text_only() -> None:
    sampling = Sampling(repeat_penalty=1.2, presence_penalty=0.3, top_k=20)

    structured = sampling.arguments(structured=True)

    assert structured == {"top_p": 0.95, "top_k": 20, "min_p": 0.05}
    assert sampling.arguments(structured=False)["repeat_penalty"] == 1.2


def test_a_maximum_temperature_caps_what_callers_ask() -> None:
    capped = Sampling(max_temperature=0.5)

    assert (capped.temperature(0.7), capped.temperature(0.2)) == (0.5, 0.2)
    assert Sampling().temperature(0.7) == 0.7


def test_the_backend_samples_as_its_model_wants(settings: Settings) -> None:
    settings.LLM_SAMPLING = {"top_p": 0.9}

    demo = LlamaCppBackend.from_settings(Path("/models") / DEMO_FILE, "demo")
    other = LlamaCppBackend.from_settings(Path("/models") / OTHER_MODEL, "path")

    assert demo.sampling == sampling_for(DEMO_FILE)
    assert other.sampling == Sampling(top_p=0.9)
