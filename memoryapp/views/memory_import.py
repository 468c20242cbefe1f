"""Importing history on the Memory page: the upload form, and each import job's progress
(polled by htmx every second until the job ends)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from memoryapp.forms import ImportForm
from memoryapp.selectors import memory_import as import_selectors
from memoryapp.services.memory.import_files import import_too_large
from memoryapp.services.memory.importing import import_job_create
from memoryapp.views import AuthenticatedRequest

TEMPLATE = "memory/import.html"
# The form fields and multipart boundaries around an uploaded file: a request larger than
# IMPORT_MAX_BYTES by more than this is refused before its file is read.
MULTIPART_SLACK = 64 * 1024


class ImportSizeLimit(FileUploadHandler):
    """Skips an uploaded file once it is larger than IMPORT_MAX_BYTES (or the request says it
    will be), so nothing of it is stored, not even in Django's temporary file."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.request_size = 0
        self.too_large = False

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        self.request_size = content_length

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        if self.request_size > settings.IMPORT_MAX_BYTES + MULTIPART_SLACK:
            self.too_large = True
            raise SkipFile

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > settings.IMPORT_MAX_BYTES:
            self.too_large = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _section(
    request: AuthenticatedRequest, form: ImportForm, *, notice: str = "", status: int = 200
) -> HttpResponse:
    """The import section (htmx) or the page holding it."""
    context = {
        "form": form,
        "jobs": import_selectors.import_jobs_recent(owner=request.user),
        "notice": notice,
    }
    template = f"{TEMPLATE}#import_section" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@csrf_exempt  # checked by _import_post, once the size limit is in place
@require_http_methods(["GET", "POST"])
def memory_import(request: AuthenticatedRequest) -> HttpResponse:
    """The upload form and the latest imports; a POST starts an import job."""
    if request.method == "POST":
        limit = ImportSizeLimit(request)
        # Before anything reads the form (the CSRF check does).
        request.upload_handlers = [limit, *request.upload_handlers]
        return _import_post(request, limit)
    return _section(request, ImportForm())


@csrf_protect
def _import_post(request: AuthenticatedRequest, limit: ImportSizeLimit) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if limit.too_large:
        form.is_valid()
        form.errors.pop("file", None)
        form.add_error("file", import_too_large(limit.request_size))
        return _section(request, form, status=422)
    if not form.is_valid():
        return _section(request, form, status=422)
    try:
        job, created = import_job_create(
            owner=request.user,
            format=form.cleaned_data["format"],
            upload=form.cleaned_data["file"],
            merge=form.cleaned_data["merge"],
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _section(request, form, status=422)
    if created:
        notice = f"Importing {job.filename}: its progress is below."
    else:
        when = "is being imported" if job.finished_at is None else "was imported already"
        notice = f"This file {when} ({job.filename}): nothing more was done."
    if request.htmx:
        return _section(request, ImportForm(), notice=notice)
    flash.info(request, notice)
    return redirect("memory_import")


@require_GET
def import_job_status(request: AuthenticatedRequest, job_id: UUID) -> HttpResponse:
    """One import job's progress, result or error (the partial htmx polls)."""
    job = import_selectors.import_job_get(owner=request.user, job_id=job_id)
    return render(request, f"{TEMPLATE}#import_job", {"job": job})
