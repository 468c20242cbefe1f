"""Prompts are Django templates in `memoryapp/llm/prompts/`, rendered as plain text."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from django.template import Context, Engine

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
# Django prints this for a variable the context lacks; render_prompt turns it into an error
# instead of letting a prompt go out with a silent gap.
_MISSING = "\x00missing:%s\x00"


def render_prompt(name: str, context: dict[str, Any]) -> str:
    """Render `prompts/<name>` with autoescape off, stripped of surrounding whitespace.

    Raises `TemplateDoesNotExist` for an unknown name and `ValueError` when the template
    prints a variable that `context` does not have (`{% if %}` on one is fine).
    """
    text = _engine().get_template(name).render(Context(context, autoescape=False))
    if "\x00missing:" in text:
        missing = text.split("\x00missing:", 1)[1].split("\x00", 1)[0]
        raise ValueError(f"Prompt {name!r} needs {missing!r}, which the context lacks")
    return text.strip()


@functools.cache
def _engine() -> Engine:
    return Engine(
        dirs=[str(PROMPTS_DIR)],
        autoescape=False,
        string_if_invalid=_MISSING,
    )
