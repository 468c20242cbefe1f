"""`chat_bench` end to end. Runs real processes: the command runs itself again on scratch
Postgres and Redis servers, starts daphne and a Celery chat worker there, and both paths
generate with the demo model in llama.cpp."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.evaluation.samples import LOCOMO_SAMPLE, LONGMEMEVAL, write_json

pytestmark = pytest.mark.integration

NUMBER = r"-?\d+(\.\d+)?"
MS = rf"{NUMBER} / {NUMBER} ms"


def _check_common_lines(lines: list[str]) -> None:
    """The table, the first-token check and the model, and the scratch servers gone."""
    scratch = next(line for line in lines if line.startswith("scratch database "))
    directory = re.fullmatch(r"scratch database \S+ in (\S+) \(deleted at the end\)", scratch)
    assert directory, scratch
    assert not Path(directory[1]).exists()
    table = next(i for i, line in enumerate(lines) if line.startswith("path "))
    assert re.fullmatch(
        r"path\s+median TTFT ms\s+median tokens/s\s+median tokens\s+runs", lines[table]
    )
    for row, path in zip(lines[table + 1 : table + 3], ("direct", "round trip"), strict=True):
        assert re.fullmatch(rf"{path}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+1", row), row
    assert re.fullmatch(
        rf"ratio \(round trip / direct\): TTFT {NUMBER}, tokens/s {NUMBER}", lines[table + 3]
    )
    assert lines[table + 4].startswith("TTFT min/max direct: ")
    assert lines[table + 5].startswith("TTFT min/max round trip: ")
    assert re.fullmatch(
        rf"first token p50 / p95 over 1 runs: bare model {MS}, full path {MS}", lines[table + 7]
    )
    assert re.fullmatch(
        r"retrieval in the worker \(context_for_answer: memory, recent turns, profile\) "
        rf"p50 / p95: {MS}; the same in this process: {MS}",
        lines[table + 8],
    )
    assert re.fullmatch(
        rf"check: full path p50 {NUMBER} ms <= bare p50 {NUMBER} \+ retrieval p95 {NUMBER} "
        rf"\+ 30 ms = {NUMBER} ms: (met|not met) \(margin [+-]{NUMBER} ms\)",
        lines[table + 9],
    )
    stages = re.fullmatch(r"full path to the first token, medians in ms: (.*)", lines[table + 12])
    assert stages, lines[table + 12]
    assert [part.rsplit(" ", 1)[0] for part in stages[1].split(", ")] == [
        "web and queue", "claim", "context", "prompt", "model", "send", "websocket",
    ]  # fmt: skip
    assert re.fullmatch(r"model: \S+ \(demo model: (yes|no)\)", lines[-2])
    assert re.fullmatch(rf"scratch servers deleted; {NUMBER} s in all", lines[-1])


def test_it_prints_both_paths_their_ratio_the_check_and_the_model(transactional_db: None) -> None:
    out = io.StringIO()

    call_command("chat_bench", "--runs", "1", "--max-tokens", "8", stdout=out)

    lines = out.getvalue().splitlines()
    _check_common_lines(lines)
    assert "prompt: " in out.getvalue() and "a new user message each run" in out.getvalue()
    assert not any(line.startswith(("memory: ", "questions: ")) for line in lines)


def test_with_a_memory_it_builds_it_and_asks_about_it(
    transactional_db: None, tmp_path: Path
) -> None:
    out = io.StringIO()

    call_command(
        "chat_bench", "--runs", "1", "--max-tokens", "8", "--memory-messages", "20",
        "--locomo", str(write_json(tmp_path / "locomo.json", [LOCOMO_SAMPLE])),
        "--longmemeval", str(write_json(tmp_path / "lme.json", LONGMEMEVAL)),
        stdout=out,
    )  # fmt: skip

    lines = out.getvalue().splitlines()
    _check_common_lines(lines)
    built = next(line for line in lines if line.startswith("memory: "))
    assert re.match(
        rf"memory: 20 messages in \d+ conversations built in {NUMBER} s \({NUMBER} messages/s; "
        r"\d+ passages, \d+ segments; memory's LLM stages off\); load average ",
        built,
    ), built
    assert "memory and a question about the history each run" in out.getvalue()
    assert re.fullmatch(
        r"questions: 1 about the imported history; the turn asked about was in the answer's "
        r"memory context in [01] of 1 runs",
        lines[-3],
    )


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--memory-messages", "5", "--prompt", "Hi"], "--prompt and --memory-messages"),
        (["--memory-messages", "5", "--locomo", "/nope.json"], r"--locomo /nope\.json: no such"),
        (["--prompt", "  "], "--prompt must not be empty"),
    ],
)
def test_bad_options_are_refused_before_any_server_starts(arguments: list[str], error: str) -> None:
    out = io.StringIO()

    with pytest.raises(CommandError, match=error):
        call_command("chat_bench", *arguments, stdout=out)

    assert out.getvalue() == ""
