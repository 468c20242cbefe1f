"""`memory_bench retrieval`: the app's dense retrieval at 10k, 100k and 1M units.

The command re-runs itself on a scratch Postgres (`scratch.py`). There it migrates the empty
database, then grows the segment table in stages (10k, 100k, then `--units` rows; each stage
adds new owners, `population.py`), and after each stage times the app's dense query path
and an exact scan on the same queries and measures the app's recall@10 (`measure.py`).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from memoryapp.benchmarks.scale import report
from memoryapp.benchmarks.scale.loading import load_stage, tune_for_loading
from memoryapp.benchmarks.scale.measure import load_average, run_queries, sample_queries
from memoryapp.benchmarks.scale.population import class_label, owner_sizes, stage_sizes
from memoryapp.benchmarks.scale.rows import Owner, register_vector_bytes
from memoryapp.benchmarks.scale.scratch import (
    in_scratch_database,
    require_scratch_database,
    rerun_in_scratch,
)
from memoryapp.benchmarks.scale.texts import TextPool, text_pool
from memoryapp.benchmarks.scale.vectors import TopicSpace

Write = Callable[[str], None]
HELP = "Latency and recall@10 of the app's dense retrieval on a scratch table of up to 1M units."


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--units", type=_positive, default=1_000_000, help="largest table size (default 1M)"
    )
    parser.add_argument(
        "--queries", type=_positive, default=200, help="queries per table size (default 200)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")


def run(options: dict[str, Any], write: Write) -> None:
    units, queries, seed = options["units"], options["queries"], options["seed"]
    if in_scratch_database():
        benchmark(units=units, queries=queries, seed=seed, write=write)
        return
    arguments = ["--units", str(units), "--queries", str(queries), "--seed", str(seed)]
    begin = time.monotonic()
    rerun_in_scratch(["memory_bench", "retrieval", *arguments], write=write)
    write(f"scratch database deleted; {time.monotonic() - begin:.0f} s in all")


def _describe(sizes: Sequence[int]) -> str:
    classes = Counter(class_label(size) for size in sizes)
    return ", ".join(f"{classes[name]} {name}" for name in ("small", "medium", "large"))


@dataclass(frozen=True)
class Synthetic:
    """The seeded sources of the synthetic data: owner sizes, units and queries each draw
    from their own generator, so the data does not depend on the number of queries."""

    population: np.random.Generator
    data: np.random.Generator
    questions: np.random.Generator
    space: TopicSpace
    pool: TextPool

    @classmethod
    def seeded(cls, seed: int) -> Synthetic:
        population, data, questions = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
        )
        return cls(population, data, questions, TopicSpace(data), text_pool(data))


def _stage(
    conn: psycopg.Connection[Any],
    size: int,
    owners: list[Owner],
    synthetic: Synthetic,
    queries: int,
    write: Write,
) -> report.StageReport:
    """Grow the table to `size` units with new owners (added to `owners`), then measure."""
    sizes = owner_sizes(size - sum(owner.rows for owner in owners), synthetic.population)
    write(f"{size:,} units: new owners {_describe(sizes)}; {load_average()}")
    new, timing = load_stage(conn, sizes, synthetic.space, synthetic.pool, synthetic.data, write)
    owners.extend(new)
    write(f"  loaded and indexed in {timing.total:.1f} s")
    outcomes = run_queries(
        sample_queries(owners, queries, synthetic.pool, synthetic.questions), write
    )
    per_class = Counter(class_label(owner.rows) for owner in owners)
    for line in report.class_table(outcomes, per_class):
        write(f"  {line}")
    return report.StageReport.of(size, outcomes, timing.total)


def benchmark(*, units: int, queries: int, seed: int, write: Write) -> None:
    """Grow the scratch table stage by stage, measure each, print the tables."""
    require_scratch_database()
    begin = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    write(f"migrated the scratch database in {time.monotonic() - begin:.1f} s")
    synthetic = Synthetic.seeded(seed)
    owners: list[Owner] = []
    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
        conn.add_notice_handler(lambda notice: write(f"  postgres: {notice.message_primary}"))
        register_vector_bytes(conn)
        tune_for_loading(conn)
        reports = [
            _stage(conn, size, owners, synthetic, queries, write) for size in stage_sizes(units)
        ]
    connection.close()
    write("")
    for line in report.stage_table(reports):
        write(line)
    write(report.target_line(reports[-1]))
    write(f"benchmark finished in {time.monotonic() - begin:.0f} s")
