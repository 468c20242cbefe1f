"""Prompt templates render as plain text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.template import TemplateDoesNotExist

from memoryapp.llm import prompting
from memoryapp.llm.prompting import render_prompt


@pytest.fixture
def prompt_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(prompting, "PROMPTS_DIR", tmp_path)
    prompting._engine.cache_clear()
    yield tmp_path
    prompting._engine.cache_clear()


def test_prompts_are_not_html_escaped(prompt_dir: Path) -> None:
    (prompt_dir / "echo.txt").write_text("User said: {{ text }}\n")

    assert render_prompt("echo.txt", {"text": '<b>Tom & "Jerry"</b>'}) == (
        'User said: <b>Tom & "Jerry"</b>'
    )


def test_a_missing_variable_is_an_error_not_a_gap(prompt_dir: Path) -> None:
    (prompt_dir / "echo.txt").write_text("{% if note %}{{ note }}{% endif %} {{ text }}")

    with pytest.raises(ValueError, match="text"):
        render_prompt("echo.txt", {})


def test_an_unknown_prompt_is_template_does_not_exist() -> None:
    with pytest.raises(TemplateDoesNotExist):
        render_prompt("no_such_prompt.txt", {})


def test_system_chat_lists_memories_and_the_date() -> None:
    prompt = render_prompt(
        "system_chat.txt",
        {
            "today": "Monday 3 March 2025",
            "memories": ["[1] Lives in Oslo", "[2] Allergic to <nuts>"],
        },
    )

    assert "Today is Monday 3 March 2025." in prompt
    assert "[1] Lives in Oslo\n[2] Allergic to <nuts>" in prompt  # not HTML-escaped
    assert "cite" in prompt


def test_system_chat_needs_no_context() -> None:
    prompt = render_prompt("system_chat.txt", {})

    assert "assistant" in prompt
    assert "Memory (numbered" not in prompt
