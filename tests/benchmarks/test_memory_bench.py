"""`memory_bench retrieval` end to end on a tiny table. The command starts (and deletes) its
own scratch Postgres, so the test needs no database of its own."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command

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
