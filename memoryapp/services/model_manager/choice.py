"""Which model answers: the active `LocalModel` row, with its GPU layers and context size.

The workers read `active_choice()` before each job (one indexed query) and load the model
when it changed (`memoryapp.llm.switch`); the web process reads it to say which model the
workers will load and whether memory's LLM stages run (`active_model_is_demo`).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from memoryapp.llm.models import ModelChoice, demo_model_path, describe_model
from memoryapp.models import LocalModel
from memoryapp.services.model_manager.files import model_file_path, model_file_read

MIN_CONTEXT = 512
MAX_CONTEXT = 1 << 20


def active_choice() -> ModelChoice | None:
    """The model the owner chose, or None: the settings' model (LLM_MODEL_PATH, ...).

    A chosen file that is gone is reported as chosen all the same: the worker's load then
    fails with a message naming it, instead of another model answering unannounced."""
    row = LocalModel.objects.filter(active=True).first()
    if row is None:
        return None
    path = model_file_path(row.filename) or settings.LLM_MODEL_DIR / row.filename
    return ModelChoice(
        path=path,
        is_demo=path == demo_model_path(),
        gpu_layers=row.gpu_layers,
        context_size=row.context_size,
    )


def active_model_is_demo() -> bool:
    """Whether the workers' model is the demo model (memory's LLM stages are off on "auto"),
    from the active choice, else the settings; nothing is loaded."""
    choice = active_choice()
    if choice is not None:
        return choice.is_demo
    return describe_model().source == "demo"


def model_settings_for(name: str) -> LocalModel:
    """The stored settings of the file `name`, or the defaults (not saved)."""
    row = LocalModel.objects.filter(filename=name).first()
    return row or LocalModel(
        filename=name, gpu_layers=settings.LLM_GPU_LAYERS, context_size=settings.LLM_CONTEXT_SIZE
    )


def model_activate(
    *, name: str, gpu_layers: int | None = None, context_size: int | None = None
) -> LocalModel:
    """Make the file `name` the model of every worker (from their next job on), with
    `gpu_layers` and `context_size` (else those stored for it, else the settings').

    Raises `ValidationError` when the file is not in the listing, is not a readable GGUF
    file, or a number is out of range (the context above the model's own length)."""
    path = model_file_path(name)
    if path is None:
        raise ValidationError(f"There is no model file called {name!r} in the models directory.")
    described = model_file_read(path, is_demo=path == demo_model_path())
    if not described.ok:
        raise ValidationError(f"{name} cannot be used: {described.error}")
    current = model_settings_for(name)
    gpu_layers = current.gpu_layers if gpu_layers is None else gpu_layers
    context_size = current.context_size if context_size is None else context_size
    if gpu_layers < -1:
        raise ValidationError("GPU layers must be -1 (every layer), 0 (CPU only) or more.")
    longest = described.context_length or MAX_CONTEXT
    if not MIN_CONTEXT <= context_size <= longest:
        raise ValidationError(
            f"The context size must be between {MIN_CONTEXT} and {longest} tokens "
            f"(the longest {name} was trained for)."
        )
    with transaction.atomic():
        LocalModel.objects.filter(active=True).exclude(filename=name).update(active=False)
        row, _ = LocalModel.objects.update_or_create(
            filename=name,
            defaults={
                "gpu_layers": gpu_layers,
                "context_size": context_size,
                "active": True,
                "updated_at": timezone.now(),
            },
        )
    return row


def model_choice_clear() -> None:
    """Go back to the model the settings name; the stored per-file settings stay."""
    LocalModel.objects.filter(active=True).update(active=False, updated_at=timezone.now())
