"""The Memory page: what the system remembers about the person, where it learned it, the
download of all of it (the export document), and the undo of a changeset."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_POST

from memoryapp.selectors import memory as memory_selectors
from memoryapp.selectors import memory_page as memory_page_selectors
from memoryapp.selectors.memory_privacy import privacy_state
from memoryapp.services.memory import journal
from memoryapp.services.memory.export import memory_export_filename, memory_export_text
from memoryapp.views import AuthenticatedRequest


@require_GET
def memory_page(request: AuthenticatedRequest) -> HttpResponse:
    """What the system remembers about the person, read-only, with where it learned it."""
    owner = request.user
    context = {
        "counts": memory_page_selectors.memory_counts(owner=owner),
        "llm_stages_on": memory_page_selectors.memory_llm_stages_on(),
        "profile": memory_page_selectors.profile_get(owner=owner),
        "fact_groups": memory_page_selectors.current_facts(owner=owner),
        "past_facts": memory_page_selectors.past_facts(owner=owner),
        "topics": memory_page_selectors.topics_page(owner=owner, number=request.GET.get("page")),
        "privacy": privacy_state(owner=owner),
    }
    return render(request, "memory/memory.html", context)


def memory_export_response(owner: User) -> HttpResponse:
    """The owner's export document as a file to save (README, "Export format")."""
    response = HttpResponse(
        memory_export_text(owner=owner), content_type="application/json; charset=utf-8"
    )
    filename = memory_export_filename(owner=owner)
    response["Content-Disposition"] = content_disposition_header(True, filename) or ""
    return response


@require_GET
def memory_export(request: AuthenticatedRequest) -> HttpResponse:
    """Everything memoryapp holds about the person, to take along or import elsewhere."""
    return memory_export_response(request.user)


@require_POST
def changeset_undo(request: AuthenticatedRequest, changeset_id: UUID) -> HttpResponse:
    """The undo as a notice, or why it cannot be (409, plain text, which the page shows next
    to the Undo button: from a chat's notice or the history alike)."""
    changeset = memory_selectors.changeset_get(owner=request.user, changeset_id=changeset_id)
    try:
        undo = journal.changeset_undo(changeset=changeset, owner=request.user)
    except ValidationError as error:  # a refusal, or MemoryBusy
        return HttpResponse(error.messages[0], status=409, content_type="text/plain")
    return render(
        request, "memory/notice.html#notice", {"changeset": undo, "events": undo.events.all()}
    )
