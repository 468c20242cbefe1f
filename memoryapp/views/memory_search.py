"""Search on the Memory page: the units the chat would put in an answer's context for a
question, with their sources (`selectors.memory_search`)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from memoryapp.selectors.memory_search import SEARCH_MAX_CHARS, memory_search
from memoryapp.views import AuthenticatedRequest


@require_GET
def memory_search_page(request: AuthenticatedRequest) -> HttpResponse:
    """htmx: the results, into the Memory page; otherwise a page of its own."""
    query = request.GET.get("q", "")
    context = {"query": query, "max_chars": SEARCH_MAX_CHARS, "budget": settings.CHAT_MEMORY_TOKENS}
    status = 200
    try:
        found = memory_search(owner=request.user, query=query)
        context.update(found=found, tokens=sum(item.unit.tokens for item in found))
    except ValidationError as error:
        context["error"] = error.messages[0]
        status = 422
    template = "memory/search.html#results" if request.htmx else "memory/search.html"
    return render(request, template, context, status=status)
