"""The privacy switches of the chat header and the Memory page: "don't remember this
conversation" (incognito) and "pause memory". htmx posts get the switch back as a partial;
a plain form post is sent back to the page it came from."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from memoryapp import forms
from memoryapp.models import Conversation
from memoryapp.selectors import conversations as conversation_selectors
from memoryapp.selectors.memory_privacy import privacy_state
from memoryapp.services.memory import privacy
from memoryapp.views import AuthenticatedRequest

PRIVACY_TEMPLATE = "memory/privacy.html"
BAD_SWITCH = "Choose on or off."


def _switch(
    request: AuthenticatedRequest,
    partial: str,
    conversation: Conversation | None = None,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    context = {
        "conversation": conversation,
        "privacy": privacy_state(owner=request.user, conversation=conversation),
        # The page the switch is on, for its plain-form fallback (not this view's URL).
        "next": request.htmx.current_url_abs_path or "",
        **extra,
    }
    return render(request, f"{PRIVACY_TEMPLATE}#{partial}", context, status=status)


def _back(request: AuthenticatedRequest, default: str) -> HttpResponse:
    """Where a plain (not htmx) form post returns: its `next`, if it is on this site."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)


@require_POST
def conversation_incognito(request: AuthenticatedRequest, conversation_id: UUID) -> HttpResponse:
    conversation = conversation_selectors.conversation_get(
        owner=request.user, conversation_id=conversation_id
    )
    form = forms.SwitchForm(request.POST)
    if not form.is_valid():
        return _switch(request, "incognito_switch", conversation, 422, error=BAD_SWITCH)
    was_remembered = privacy_state(owner=request.user, conversation=conversation).remembered
    try:
        privacy.conversation_incognito_set(conversation=conversation, incognito=form.on)
    except ValidationError as error:
        # 422: htmx swaps it in, the reason beside the switch (a memory busy with a job).
        return _switch(request, "incognito_switch", conversation, 422, error=error.messages[0])
    if not request.htmx:
        return redirect(conversation)
    forgot = form.on and was_remembered
    return _switch(request, "incognito_switch", conversation, forgot=forgot)


@require_POST
def memory_pause(request: AuthenticatedRequest) -> HttpResponse:
    form = forms.SwitchForm(request.POST)
    if not form.is_valid():
        return _switch(request, "pause_switch", status=422, error=BAD_SWITCH)
    privacy.memory_pause_set(owner=request.user, paused=form.on)
    if not request.htmx:
        return _back(request, "memory")
    return _switch(request, "pause_switch")
