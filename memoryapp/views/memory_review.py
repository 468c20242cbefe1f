"""The person's hands on their memory: correct a fact (edit it, or mark it wrong), the review
inbox (accept or reject what consolidation proposed instead of applying) and the history of
changes, each with its Undo (`memory.changeset_undo`).

htmx requests get the changed piece back as a partial; refusals are said in it (422). A plain
form post (no JavaScript) is sent back to the page once it succeeded."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from memoryapp import forms
from memoryapp.models import Fact, FactProposal
from memoryapp.selectors import memory_review
from memoryapp.services.memory import corrections, review
from memoryapp.views import AuthenticatedRequest

FACT_TEMPLATE = "memory/_fact_body.html"
REVIEW_TEMPLATE = "memory/review.html"


def _local_date(value: datetime | None) -> date | None:
    return timezone.localtime(value).date() if value is not None else None


def _date_change(day: date | None, current: datetime | None) -> Any:
    """The date to give `fact_edit`: UNSET when the form shows the day the fact already has
    (its time of day is kept), else the start of that day here (None: no date)."""
    if day == _local_date(current):
        return corrections.UNSET
    if day is None:
        return None
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def _fact(
    request: AuthenticatedRequest, fact: Fact, partial: str, status: int = 200, **extra: Any
) -> HttpResponse:
    return render(request, f"{FACT_TEMPLATE}#{partial}", {"fact": fact, **extra}, status=status)


@require_GET
def fact_body(request: AuthenticatedRequest, fact_id: UUID) -> HttpResponse:
    """The fact as the Memory page shows it (Cancel of an edit)."""
    fact = memory_review.fact_get(owner=request.user, fact_id=fact_id)
    return _fact(request, fact, "fact_body")


@require_http_methods(["GET", "POST"])
def fact_edit(request: AuthenticatedRequest, fact_id: UUID) -> HttpResponse:
    """GET: the inline form. POST: the edit, then the fact as it is now; a refusal keeps the
    form with what the person typed and says why (422)."""
    owner = request.user
    fact = memory_review.fact_get(owner=owner, fact_id=fact_id)
    if request.method == "GET":
        initial = {
            "text": fact.text,
            "valid_from": _local_date(fact.valid_from),
            "valid_to": _local_date(fact.valid_to),
        }
        form = forms.FactEditForm(initial=initial, auto_id=f"fact-{fact.pk}-%s")
        return _fact(request, fact, "fact_edit_form", form=form)
    form = forms.FactEditForm(request.POST, auto_id=f"fact-{fact.pk}-%s")
    if form.is_valid():
        try:
            corrections.fact_edit(
                owner=owner,
                fact=fact,
                text=form.cleaned_data["text"] if "text" in request.POST else None,
                valid_from=_date_change(form.cleaned_data["valid_from"], fact.valid_from),
                valid_to=_date_change(form.cleaned_data["valid_to"], fact.valid_to),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if not request.htmx:
                return redirect(f"{reverse('memory')}#fact-{fact.pk}")
            fact = memory_review.fact_get(owner=owner, fact_id=fact_id)
            return _fact(request, fact, "fact_body", done="Saved.")
    return _fact(request, fact, "fact_edit_form", status=422, form=form)


@require_POST
def fact_retract(request: AuthenticatedRequest, fact_id: UUID) -> HttpResponse:
    """Mark the fact wrong; the fact as it is now, or why it cannot be (422)."""
    owner = request.user
    fact = memory_review.fact_get(owner=owner, fact_id=fact_id)
    try:
        corrections.fact_retract(owner=owner, fact=fact)
    except ValidationError as error:
        return _fact(request, fact, "fact_body", status=422, error=error.messages[0])
    if not request.htmx:
        return redirect("memory")
    fact = memory_review.fact_get(owner=owner, fact_id=fact_id)
    return _fact(request, fact, "fact_body", done="Marked wrong: it is no longer used.")


@require_GET
def review_page(request: AuthenticatedRequest) -> HttpResponse:
    return render(request, REVIEW_TEMPLATE, {"items": memory_review.inbox(owner=request.user)})


def _decided(request: AuthenticatedRequest, proposal: FactProposal, decide: Any) -> HttpResponse:
    owner = request.user
    try:
        decide(owner=owner, proposal=proposal)
    except ValidationError as error:
        item = memory_review.inbox_item(owner=owner, proposal_id=proposal.pk)
        context = {"item": item, "error": error.messages[0]}
        return render(request, f"{REVIEW_TEMPLATE}#proposal", context, status=422)
    if not request.htmx:
        return redirect("memory_review")
    item = memory_review.inbox_item(owner=owner, proposal_id=proposal.pk)
    return render(request, f"{REVIEW_TEMPLATE}#proposal", {"item": item})


@require_POST
def proposal_accept(request: AuthenticatedRequest, proposal_id: UUID) -> HttpResponse:
    proposal = memory_review.proposal_get(owner=request.user, proposal_id=proposal_id)
    return _decided(request, proposal, review.proposal_accept)


@require_POST
def proposal_reject(request: AuthenticatedRequest, proposal_id: UUID) -> HttpResponse:
    proposal = memory_review.proposal_get(owner=request.user, proposal_id=proposal_id)
    return _decided(request, proposal, review.proposal_reject)


@require_GET
def history_page(request: AuthenticatedRequest) -> HttpResponse:
    changesets = memory_review.changeset_history(owner=request.user, number=request.GET.get("page"))
    return render(request, "memory/history.html", {"changesets": changesets})
