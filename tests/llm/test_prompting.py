"""Prompt templates render as plain text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.template import TemplateDoesNotExist

from memoryapp.llm import LLM, PromptTooLong, prompting
from memoryapp.llm.prompting import (
    Shown,
    one_message_room,
    parts_within,
    prompt_within,
    render_prompt,
)
from tests.support.long_messages import CHINESE, LONG_MESSAGES, ByteTokenizer, utf8_bytes


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


def lines(shown: Shown) -> str:
    return "Turns:\n" + "\n".join(f"- {text}" for _, text in shown)


def test_parts_that_fit_are_shown_whole() -> None:
    parts = ["I have a dog.", "I live in Porto."]

    fitted = parts_within(parts, render=lines, room=100, count_tokens=utf8_bytes)

    assert fitted.text == "Turns:\n- I have a dog.\n- I live in Porto."
    assert fitted.kept == [0, 1]


@pytest.mark.parametrize("long", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_a_long_part_is_cut_to_its_start_and_the_others_are_shown_whole(long: str) -> None:
    parts = ["I have a dog.", long, "I live in Porto."]

    fitted = parts_within(parts, render=lines, room=1000, count_tokens=utf8_bytes)

    assert utf8_bytes(fitted.text) <= 1000
    first, cut, last = (text for _, text in fitted.shown)
    assert (first, last) == ("I have a dog.", "I live in Porto.")
    assert cut.endswith("…") and long.startswith(cut.removesuffix("…"))
    assert utf8_bytes(cut) > 900  # the room is used, not given away


def test_when_cut_parts_would_say_too_little_the_first_droppable_ones_go() -> None:
    parts = [f"Turn number {n:03d} of a long conversation about many things." for n in range(60)]

    fitted = parts_within(
        parts, render=lines, room=1000, count_tokens=utf8_bytes, droppable=range(59)
    )

    assert utf8_bytes(fitted.text) <= 1000
    assert fitted.kept == list(range(60 - len(fitted.kept), 60))  # the oldest went first
    assert 10 < len(fitted.kept) < 60


def test_a_part_that_may_not_be_dropped_is_cut_instead() -> None:
    parts = ["Earlier turn. " * 20, CHINESE]

    fitted = parts_within(parts, render=lines, room=300, count_tokens=utf8_bytes, droppable=[0])

    assert utf8_bytes(fitted.text) <= 300
    assert fitted.kept[-1] == 1 and fitted.shown[-1][1].startswith("记忆")


def test_a_limit_cuts_every_part_to_it() -> None:
    fitted = parts_within(
        ["short", "c" * 500], render=lines, room=1000, count_tokens=utf8_bytes, limit=20
    )

    assert [text for _, text in fitted.shown] == ["short", "c" * 17 + "…"]


def test_a_template_over_the_room_is_refused() -> None:
    with pytest.raises(PromptTooLong):
        parts_within(["a"], render=lambda shown: "x" * 50 + lines(shown), room=40,
                     count_tokens=utf8_bytes)  # fmt: skip


def test_a_one_message_prompt_leaves_room_for_the_reply_and_the_chat_template() -> None:
    assert one_message_room(context_size=4096, max_tokens=700) == 4096 - 700 - 5 - 3
    assert one_message_room(context_size=512, max_tokens=700) < 0


@pytest.mark.parametrize("long", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_a_prompt_fitted_to_a_model_is_accepted_by_it(long: str) -> None:
    llm = LLM(ByteTokenizer(["Fine."], context_size=1024))

    fitted = prompt_within(llm, ["Hello.", long], render=lines, max_tokens=200)
    reply = llm.complete([{"role": "user", "content": fitted.text}], max_tokens=200)

    assert reply.text == "Fine."
    assert reply.prompt_tokens > 1024 - 200 - 20  # and the room is used
