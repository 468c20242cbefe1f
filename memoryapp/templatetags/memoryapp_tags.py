from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from memoryapp.models import Message
from memoryapp.rendering import render_markdown
from memoryapp.selectors.answers import answer_can_continue, answer_waiting_ahead
from memoryapp.selectors.citations import AnswerMemory
from memoryapp.selectors.citations import answer_memory as selector_answer_memory

register = template.Library()

# The context variable a page sets to the memory of all its answers at once
# (`memoryapp.selectors.citations.answer_memory`), so the tag does not query per answer.
ANSWER_MEMORY = "answer_memory"


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Message text as sanitised HTML (see memoryapp.rendering)."""
    return render_markdown(text or "")


@register.simple_tag(takes_context=True)
def answer_memory(context: template.Context, message: Message) -> AnswerMemory:
    """The memory a finished answer used: `.units` for the "Memory used" list, `.cited` for
    its chips (none for any other message). From the page's `answer_memory` when it has one,
    else looked up (no query for a message that is not a finished answer)."""
    known: dict[Any, AnswerMemory] | None = context.get(ANSWER_MEMORY)
    if known is None:
        known = selector_answer_memory(owner_id=message.owner_id, answers=[message])
    return known.get(message.pk) or AnswerMemory()


@register.simple_tag
def can_continue(message: Message) -> bool:
    """Whether the answer ends with a Continue action (see `answer_can_continue`)."""
    return answer_can_continue(answer=message)


@register.simple_tag
def answers_ahead(message: Message) -> int:
    """How many answers are ahead of a pending one (see `answer_waiting_ahead`)."""
    return answer_waiting_ahead(answer=message)
