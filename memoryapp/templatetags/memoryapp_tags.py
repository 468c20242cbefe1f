from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from memoryapp.models import Message
from memoryapp.rendering import render_markdown
from memoryapp.selectors.citations import Chip
from memoryapp.selectors.citations import citation_chips as selector_citation_chips

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Message text as sanitised HTML (see memoryapp.rendering)."""
    return render_markdown(text or "")


@register.simple_tag
def citation_chips(message: Message) -> list[Chip]:
    """The cited sources of an answer (see memoryapp.selectors.citations)."""
    if message.role != Message.Role.ASSISTANT or not message.is_finished:
        return []
    return selector_citation_chips(answer=message)
