"""Forgetting from the pages: a conversation (the sidebar's Delete), a fact, a topic, or
everything. A GET shows what would go (`forget_preview`: counts, and the facts that only
lose some of their sources), as a page or, for htmx, as the content of the chat's dialog; a
POST forgets it (`memory_forget`) and says what went."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages as flash
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from memoryapp.selectors import conversations as conversation_selectors
from memoryapp.selectors import memory_forget as forget_selectors
from memoryapp.services.memory.forget import ForgetTarget, forget_preview, memory_forget
from memoryapp.services.memory.locks import MemoryBusy
from memoryapp.views import AuthenticatedRequest

FORGET_TEMPLATE = "memory/forget.html"


def _forget(
    request: AuthenticatedRequest,
    target: ForgetTarget,
    *,
    back: str,
    done: str,
    said: str,
    **context: Any,
) -> HttpResponse:
    """Preview (GET) or forget (POST) `target`; after it, go to `done` saying `said` and
    what went."""
    busy = ""
    try:
        if request.method == "POST":
            try:
                went = memory_forget(owner=request.user, target=target)
            except MemoryBusy as error:
                busy = str(error)
            else:
                flash.success(request, f"{said} Forgotten with it: {went.summary()}.")
                return redirect(done)
        preview = forget_preview(owner=request.user, target=target)
    except ObjectDoesNotExist as error:  # gone meanwhile (a second tab)
        raise Http404("There is nothing of yours to forget here.") from error
    in_dialog = request.headers.get("HX-Request") == "true"
    return render(
        request,
        f"{FORGET_TEMPLATE}#preview" if in_dialog else FORGET_TEMPLATE,
        {
            "preview": preview,
            "action": request.path,
            "back": back,
            "in_dialog": in_dialog,
            "error": busy,
            **context,
        },
        status=409 if busy else 200,
    )


@require_http_methods(["GET", "POST"])
def conversation_forget(request: AuthenticatedRequest, conversation_id: UUID) -> HttpResponse:
    """Deleting a conversation from the sidebar is forgetting it."""
    conversation = conversation_selectors.conversation_get(
        owner=request.user, conversation_id=conversation_id
    )
    return _forget(
        request,
        ForgetTarget("conversation", conversation.pk),
        back=conversation.get_absolute_url(),
        done=reverse("home"),
        said=f"Deleted “{conversation}”.",
        question=f"Delete “{conversation}” and all of its messages?",
        button="Delete conversation",
    )


@require_http_methods(["GET", "POST"])
def fact_forget(request: AuthenticatedRequest, fact_id: UUID) -> HttpResponse:
    fact = forget_selectors.fact_get(owner=request.user, fact_id=fact_id)
    return _forget(
        request,
        ForgetTarget("fact", fact.pk),
        back=f"{reverse('memory')}#fact-{fact.pk}",
        done=reverse("memory"),
        said="Forgot a fact.",
        question="Forget this fact?",
        quoted=fact.text,
        button="Forget this fact",
    )


@require_http_methods(["GET", "POST"])
def segment_forget(request: AuthenticatedRequest, segment_id: UUID) -> HttpResponse:
    segment = forget_selectors.segment_get(owner=request.user, segment_id=segment_id)
    return _forget(
        request,
        ForgetTarget("segment", segment.pk),
        back=f"{reverse('memory')}#segment-{segment.pk}",
        done=reverse("memory"),
        said=f"Forgot the topic “{segment}”.",
        question=f"Forget the topic “{segment}” and its messages in “{segment.conversation}”?",
        button="Forget this topic",
    )


@require_http_methods(["GET", "POST"])
def everything_forget(request: AuthenticatedRequest) -> HttpResponse:
    return _forget(
        request,
        ForgetTarget("all"),
        back=reverse("memory"),
        done=reverse("memory"),
        said="Forgot everything.",
        question="Forget every conversation and all that memoryapp remembers about you?",
        button="Forget everything",
    )
