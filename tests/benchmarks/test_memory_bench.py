"""`memory_bench retrieval` end to end on a tiny database (`--units` and `--messages`). The
command starts (and deletes) its own scratch Postgres, so the test needs no database of its
own."""

from __future__ import annotations

import io
import pstats
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

NUMBER = r"\d+(?:\.\d+)?"
TRIPLE = rf"{NUMBER} / {NUMBER} / {NUMBER}"
SEPARATOR = re.compile(r"-+(?:-\+-+)+")


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("|")]


@pytest.mark.timeout(60)
def test_retrieval_prints_the_tables_and_deletes_its_scratch_database() -> None:
    out = io.StringIO()

    call_command("memory_bench", "retrieval", "--units", "3000", "--queries", "20", stdout=out)

    lines = out.getvalue().splitlines()
    scratch = re.fullmatch(
        r"scratch database postgres://\S+ in (\S+) \(deleted at the end\)", lines[0]
    )
    assert scratch, lines[0]
    assert not Path(scratch[1]).exists()
    by_class = next(i for i, line in enumerate(lines) if line.strip().startswith("class |"))
    name, owners, queries, app, exact, recall, worst, lexical = cells(lines[by_class + 2])
    assert (name, queries, recall, worst) == ("small", "20", "1.000", "1.0")
    assert int(owners) > 0
    assert all(re.fullmatch(TRIPLE, cell) for cell in (app, exact, lexical))
    header = next(i for i, line in enumerate(lines) if line.startswith("units "))
    assert cells(lines[header]) == [
        "units",
        "queries",
        "app p50/p95/p99 ms",
        "exact p50/p95/p99 ms",
        "recall@10",
        "recall@10 large",
        "full-text p50/p95/p99 ms",
        "load+index s",
    ]
    assert SEPARATOR.fullmatch(lines[header + 1])
    units, queries, app, exact, recall, recall_large, lexical, seconds = cells(lines[header + 2])
    assert (units, queries) == ("3,000", "20")
    assert all(re.fullmatch(TRIPLE, cell) for cell in (app, exact, lexical))
    # Owners of at most 3,000 units take the app's exact route: nothing can be missed.
    assert (recall, recall_large) == ("1.000", "n/a")
    assert re.fullmatch(r"\d+", seconds)
    assert lines[header + 3].startswith("target at 3,000 units (app p95 < 50 ms")
    assert re.fullmatch(rf"scratch database deleted; {NUMBER} s in all", lines[-1])


def _table_after(lines: list[str], header: list[str]) -> list[list[str]]:
    """The rows of the table whose header is `header`."""
    start = next(i for i, line in enumerate(lines) if cells(line) == header)
    assert SEPARATOR.fullmatch(lines[start + 1])
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(cells(line))
    return rows


# A scratch Postgres, migrated and loaded: about 60 s on a busy 2-core machine.
@pytest.mark.timeout(240)
def test_messages_prints_per_class_and_per_list_tables(tmp_path: Path) -> None:
    out = io.StringIO()

    call_command(
        "memory_bench", "retrieval", "--messages", "3000", "--class-scale", "0.1",
        "--queries", "3", "--profile", str(tmp_path / "retrieval.prof"), stdout=out,
    )  # fmt: skip

    lines = out.getvalue().splitlines()
    scratch = re.fullmatch(
        r"scratch database postgres://\S+ in (\S+) \(deleted at the end\)", lines[0]
    )
    assert scratch, lines[0]
    assert not Path(scratch[1]).exists()
    population = _table_after(
        lines, ["class", "owners", "messages", "passages", "segments", "facts"]
    )
    # 3,000 messages at a tenth of the sizes: owners of about 100 and 1,000 messages.
    assert [row[0] for row in population] == ["100", "1k"]
    for _, owners, messages, passages, segments, facts in population:
        assert int(owners) >= 1
        assert int(messages.replace(",", "")) > int(segments.replace(",", "")) > 0
        assert int(passages.replace(",", "")) > 0 and int(facts.replace(",", "")) > 0
    retrieve = _table_after(
        lines,
        [
            "class",
            "queries",
            "retrieve_units p50/p95/p99 ms",
            "of which question embedding p50/p95 ms",
            "units p50",
        ],
    )
    assert [row[:2] for row in retrieve] == [["100", "3"], ["1k", "3"]]
    assert all(re.fullmatch(TRIPLE, row[2]) for row in retrieve)
    assert all(re.fullmatch(rf"{NUMBER} / {NUMBER}", row[3]) for row in retrieve)
    per_list = _table_after(lines, ["class", "list", "p50/p95/p99 ms", "recall@10", "HNSW route"])
    assert [row[1] for row in per_list[:8]] == [
        "turns dense",
        "passages",
        "turns full text",
        "segment keys",
        "segment summaries",
        "segments full text",
        "facts dense",
        "facts full text",
    ]
    assert len(per_list) == 16
    for _, name, timed, recall, route in per_list:
        assert re.fullmatch(TRIPLE, timed)
        # Owners this small take the exact route: nothing can be missed.
        expected = ("1.000", "0%") if "full text" not in name else ("", "")
        assert (recall, route) == expected
    assert any(line.startswith("goal for 1k owners (retrieve_units p95 <= 20 ms") for line in lines)
    assert any(re.match(rf"load {NUMBER} s, indexes {NUMBER} s \(", line) for line in lines)
    assert re.fullmatch(rf"scratch database deleted; {NUMBER} s in all", lines[-1])
    # --profile: retrieve_units profiled per class, each written to a file of its own.
    for label in ("100", "1k"):
        profile = tmp_path / f"retrieval.prof.{label}"
        assert pstats.Stats(str(profile)).get_stats_profile().func_profiles
        heading = f"profile of retrieve_units for owners of {label} messages (3 queries) by "
        assert any(line.startswith(heading + "cumulative time") for line in lines)
        assert any(line.startswith(heading + "own time") for line in lines)


def test_messages_refuses_too_few_before_starting_servers() -> None:
    with pytest.raises(CommandError, match="too few"):
        call_command("memory_bench", "retrieval", "--messages", "5000", stdout=io.StringIO())
