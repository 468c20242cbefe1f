"""The model manager page (/models/), for the installation's owner only: the local model
files, the active one and its settings, downloads from the hub (their progress polled by
htmx every second), and the models recommended for this machine."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.conf import settings
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from memoryapp.models import LocalModel, ModelDownload
from memoryapp.selectors.health import chat_model_status
from memoryapp.services.model_manager.choice import (
    MAX_CONTEXT,
    MIN_CONTEXT,
    active_choice,
    model_activate,
    model_choice_clear,
)
from memoryapp.services.model_manager.files import model_files_list
from memoryapp.services.model_manager.hub import hub_endpoint, model_download_create
from memoryapp.services.model_manager.recommend import models_recommend
from memoryapp.views import AuthenticatedRequest

TEMPLATE = "models/models.html"
DOWNLOADS_SHOWN = 10


class DownloadForm(forms.Form):
    repo = forms.CharField(label="Repository", max_length=200, strip=True)
    filename = forms.CharField(label="File", max_length=500, strip=True)
    revision = forms.CharField(label="Revision", max_length=200, strip=True, initial="main")


class UseForm(forms.Form):
    name = forms.CharField(max_length=255)
    gpu_layers = forms.IntegerField(label="GPU layers", min_value=-1, max_value=10_000)
    context_size = forms.IntegerField(
        label="Context size", min_value=MIN_CONTEXT, max_value=MAX_CONTEXT
    )


def _owner_required(request: AuthenticatedRequest) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Only the owner of this installation manages its models.")


def _context(request: AuthenticatedRequest, **extra: Any) -> dict[str, Any]:
    files = model_files_list()
    stored = {row.filename: row for row in LocalModel.objects.all()}
    choice = active_choice()
    rows = []
    for file in files:
        row = stored.get(file.name)
        rows.append(
            {
                "file": file,
                "gpu_layers": row.gpu_layers if row else _default("gpu_layers"),
                "context_size": row.context_size if row else _default("context_size"),
                "active": choice is not None and choice.path == file.path,
            }
        )
    return {
        "files": rows,
        "choice": choice,
        "answering": chat_model_status(),
        "downloads": ModelDownload.objects.all()[:DOWNLOADS_SHOWN],
        "advice": models_recommend(),
        "hub": hub_endpoint(),
        "download_form": extra.pop("download_form", None) or DownloadForm(),
        **extra,
    }


def _default(field: str) -> int:
    return int(settings.LLM_GPU_LAYERS if field == "gpu_layers" else settings.LLM_CONTEXT_SIZE)


def _page(request: AuthenticatedRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    return render(request, TEMPLATE, _context(request, **extra), status=status)


@require_GET
def models_page(request: AuthenticatedRequest) -> HttpResponse:
    _owner_required(request)
    return _page(request)


@require_POST
def model_download(request: AuthenticatedRequest) -> HttpResponse:
    """Queue a download from the hub; the page shows its progress."""
    _owner_required(request)
    form = DownloadForm(request.POST)
    if form.is_valid():
        try:
            download, created = model_download_create(
                repo=form.cleaned_data["repo"],
                filename=form.cleaned_data["filename"],
                revision=form.cleaned_data["revision"] or "main",
                requested_by=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            flash.info(
                request,
                f"Downloading {download.local_name}: its progress is below."
                if created
                else f"{download.local_name} is being downloaded already.",
            )
            return redirect("models")
    return _page(request, download_form=form, status=422)


@require_GET
def model_download_status(request: AuthenticatedRequest, download_id: UUID) -> HttpResponse:
    """One download's progress or outcome (the partial htmx polls)."""
    _owner_required(request)
    download = get_object_or_404(ModelDownload, pk=download_id)
    return render(request, f"{TEMPLATE}#download", {"download": download})


@require_POST
def model_use(request: AuthenticatedRequest) -> HttpResponse:
    """Make a file the active model with its GPU layers and context size."""
    _owner_required(request)
    form = UseForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(
            f"{form.fields[field].label or field}: {' '.join(str(e) for e in messages)}"
            for field, messages in form.errors.items()
        )
        return _page(request, use_error=f"Not switched: {errors}", status=422)
    try:
        row = model_activate(
            name=form.cleaned_data["name"],
            gpu_layers=form.cleaned_data["gpu_layers"],
            context_size=form.cleaned_data["context_size"],
        )
    except ValidationError as error:
        return _page(request, use_error=" ".join(error.messages), status=422)
    flash.success(
        request,
        f"{row.filename} is the active model: each worker loads it before its next job "
        "(an idle one within seconds).",
    )
    return redirect("models")


@require_POST
def model_use_settings(request: AuthenticatedRequest) -> HttpResponse:
    """Go back to the model the settings name (LLM_MODEL_PATH, LLM_MODEL_REPO, the demo)."""
    _owner_required(request)
    model_choice_clear()
    flash.success(request, "The workers go back to the model the settings name.")
    return redirect("models")
