"""`memory_bench retrieval`: the chat's retrieval at up to 1M messages (`--messages`, the
default: `message_bench.py`), or the app's dense retrieval at 10k, 100k and 1M segments
(`--units`, below).

The command re-runs itself on a scratch Postgres (`scratch.py`). With `--units` it migrates
the empty database, then grows the segment table in stages (10k, 100k, then `--units` rows;
each stage adds new owners, `population.py`), and after each stage times the app's dense
query path and an exact scan on the same queries and measures the app's recall@10
(`measure.py`).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from memoryapp.benchmarks.scale import message_bench, report
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
HELP = (
    "Latency of the chat's retrieval and of each of its lists, and recall@10 of the fast "
    "paths, on a scratch database of up to 1M messages (or, with --units, 1M segments)."
)
MESSAGES = 1_000_000
MESSAGE_QUERIES = 100
UNIT_QUERIES = 200


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return number


def _scale(value: str) -> float:
    number = float(value)
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1]: {value}")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--messages",
        type=_positive,
        help=f"messages of many owners, as the pipeline builds them (default {MESSAGES:,}): "
        "retrieve_units and each of its lists per owner size, recall of the fast paths",
    )
    size.add_argument(
        "--units",
        type=_positive,
        help="the segments-only benchmark: dense retrieval on a table of up to this many "
        "synthetic segments, grown in stages",
    )
    parser.add_argument(
        "--queries",
        type=_positive,
        help=f"queries per owner class with --messages (default {MESSAGE_QUERIES}), per table "
        f"size with --units (default {UNIT_QUERIES})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument(
        "--class-scale",
        type=_scale,
        default=1.0,
        help="with --messages: multiply the classes' sizes (1k, 10k, 100k) by this (tests)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="with --messages: cProfile of retrieve_units per owner class, written to "
        "FILE.<class> and its top printed",
    )


def run(options: dict[str, Any], write: Write) -> None:
    if options["units"] is None:
        _run_messages(options, write)
        return
    units, seed = options["units"], options["seed"]
    queries = options["queries"] or UNIT_QUERIES
    if in_scratch_database():
        benchmark(units=units, queries=queries, seed=seed, write=write)
        return
    arguments = ["--units", str(units), "--queries", str(queries), "--seed", str(seed)]
    begin = time.monotonic()
    rerun_in_scratch(["memory_bench", "retrieval", *arguments], write=write)
    write(f"scratch database deleted; {time.monotonic() - begin:.0f} s in all")


def _run_messages(options: dict[str, Any], write: Write) -> None:
    options = {
        **options,
        "messages": options["messages"] or MESSAGES,
        "queries": options["queries"] or MESSAGE_QUERIES,
    }
    if in_scratch_database():
        message_bench.benchmark(
            messages=options["messages"],
            queries=options["queries"],
            seed=options["seed"],
            class_scale=options["class_scale"],
            write=write,
            profile=options.get("profile"),
        )
        return
    arguments = message_bench.run_arguments(options)
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
