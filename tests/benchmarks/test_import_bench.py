"""`memory_bench import` end to end at a tiny size: its plumbing and what it prints (no
timing is asserted). The command starts (and deletes) its own scratch Postgres."""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.evaluation.samples import LOCOMO_SAMPLE, LONGMEMEVAL, write_json

NUMBER = r"\d+(?:\.\d+)?"


def line_with(lines: list[str], prefix: str) -> str:
    return next(line for line in lines if line.startswith(prefix))


@pytest.mark.timeout(120)
def test_import_builds_memory_of_the_history_and_prints_both_throughputs(tmp_path: Path) -> None:
    sample = copy.deepcopy(LOCOMO_SAMPLE)
    # A turn of two sentences: a person's message that gets passages.
    sample["conversation"]["session_1"][0]["text"] += " He loves long walks by the river."
    locomo = write_json(tmp_path / "locomo.json", [sample])
    longmemeval = write_json(tmp_path / "lme.json", LONGMEMEVAL)
    profile = tmp_path / "build.prof"
    out = io.StringIO()

    call_command(
        "memory_bench", "import", "--messages", "40", "--locomo", str(locomo),
        "--longmemeval", str(longmemeval), "--profile", str(profile), stdout=out,
    )  # fmt: skip

    lines = out.getvalue().splitlines()
    scratch = re.fullmatch(
        r"scratch database postgres://\S+ in (\S+) \(deleted at the end\)", lines[0]
    )
    assert scratch, lines[0]
    assert not Path(scratch[1]).exists()
    assert "history of 40 messages in " in line_with(lines, "LoCoMo 2 sessions, 5 turns;")
    counts = re.fullmatch(
        r"messages 40, conversations (\d+), passages (\d+), closed segments (\d+) "
        r"\((\d+) consolidated\)",
        line_with(lines, "messages "),
    )
    assert counts, line_with(lines, "messages ")
    # Every segment was closed (final) and consolidated; people's longer turns got passages.
    assert int(counts[3]) >= int(counts[1]) and counts[3] == counts[4]
    assert int(counts[2]) > 0
    assert re.fullmatch(rf"end to end: {NUMBER} messages/s", line_with(lines, "end to end: "))
    assert re.fullmatch(
        rf"embedding model alone on the same texts: {NUMBER} sentences/s \({NUMBER} s\)",
        line_with(lines, "embedding model alone"),
    )
    assert re.fullmatch(
        rf"ratio \(embedding alone / end to end\): {NUMBER}", line_with(lines, "ratio")
    )
    assert re.fullmatch(r"target \(.*\): (met|not met)", line_with(lines, "target"))
    assert "profile of the build by cumulative time" in out.getvalue()
    assert profile.stat().st_size > 0
    assert re.fullmatch(rf"scratch database deleted; {NUMBER} s in all", lines[-1])


def test_a_missing_data_file_fails_before_any_server_starts(tmp_path: Path) -> None:
    out = io.StringIO()

    with pytest.raises(CommandError, match=r"--longmemeval .*nope\.json\.gz: no such file"):
        call_command(
            "memory_bench", "import", "--messages", "10",
            "--locomo", str(write_json(tmp_path / "l.json", [LOCOMO_SAMPLE])),
            "--longmemeval", str(tmp_path / "nope.json.gz"), stdout=out,
        )  # fmt: skip

    assert out.getvalue() == ""
