from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from memoryapp.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Message text as sanitised HTML (see memoryapp.rendering)."""
    return render_markdown(text or "")
