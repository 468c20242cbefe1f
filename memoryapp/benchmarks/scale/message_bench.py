"""`memory_bench retrieval --messages N`: the chat's retrieval over one database holding N
messages of many owners, as the pipeline builds them, per owner size (1k, 10k, 100k).

On the scratch Postgres (`scratch.py`) it migrates the empty database, then loads N messages
(`message_population.py` decides the owners, `message_rows.py` what the pipeline would have
built for them, `message_loading.py` COPYs it in and rebuilds the indexes), times
`retrieve_units` end to end and each of its lists, and measures each dense list's recall@10
against an exact scan (`message_measure.py`); `message_report.py` prints the tables.

Text is real: LoCoMo and LongMemEval turns replicated with fresh names and dates
(`histories.py`); questions are LongMemEval's development questions. Vectors are synthetic
(embedding a million texts here would take hours), with each owner's neighbourhoods
(`vectors.py`: owners' topics, a segment's rows near its centre, a turn's passages near the
turn). The global topics are the real embeddings of GLOBAL_TOPICS of the turns, so that a
question embedded by the real model, as `retrieve_units` embeds it, lands among the stored
vectors' directions rather than apart from all of them. Latency end to end is measured with
that real call (the question's embedding included, and shown alone beside it); recall per
list with synthetic query vectors near one of the owner's topics, whose true neighbours
are the owner's rows of that topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.scale import message_report
from memoryapp.benchmarks.scale.histories import Sources, read_sources
from memoryapp.benchmarks.scale.loading import tune_for_loading
from memoryapp.benchmarks.scale.measure import load_average
from memoryapp.benchmarks.scale.message_loading import create_owners, load_histories
from memoryapp.benchmarks.scale.message_measure import (
    profile_retrieval,
    run_queries,
    sample_queries,
)
from memoryapp.benchmarks.scale.message_population import message_owner_sizes
from memoryapp.benchmarks.scale.rows import register_vector_bytes
from memoryapp.benchmarks.scale.scratch import require_scratch_database
from memoryapp.benchmarks.scale.vectors import GLOBAL_TOPICS, TopicSpace
from memoryapp.embeddings import embed_texts, warm_up
from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.longmemeval_data import read_longmemeval

Write = Callable[[str], None]
TOPIC_TEXT_WORDS = 24


def data_dir() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "data"


def default_files() -> tuple[Path, Path, Path]:
    """The LoCoMo and LongMemEval development files whose turns are used, and the
    LongMemEval file whose questions are asked (the same questions, a smaller file)."""
    return (
        data_dir() / "locomo" / "locomo_dev.json",
        data_dir() / "longmemeval" / "longmemeval_s_dev.json.gz",
        data_dir() / "longmemeval" / "longmemeval_oracle_dev.json",
    )


def _questions(path: Path) -> list[str]:
    try:
        return sorted({question.question for question in read_longmemeval(path)})
    except EvaluationError as exc:
        raise BenchError(str(exc)) from exc


def topic_space(sources: Sources, rng: np.random.Generator) -> TopicSpace:
    """Global topics embedded by the real model from GLOBAL_TOPICS people's turns."""
    turns = [
        m.content
        for session in (*sources.locomo, *sources.longmemeval)
        for m in session.messages
        if m.by_person and len(m.content.split()) >= 8
    ]
    picked = rng.choice(len(turns), size=GLOBAL_TOPICS, replace=False)
    texts = [" ".join(turns[int(i)].split()[:TOPIC_TEXT_WORDS]) for i in picked]
    return TopicSpace(rng, embed_texts(texts).astype(np.float32))


def benchmark(
    *,
    messages: int,
    queries: int,
    seed: int,
    class_scale: float,
    write: Write,
    profile: Path | None = None,
) -> None:
    """Load `messages` messages of many owners, time the chat's retrieval, print tables;
    with `profile`, also profile `retrieve_units` per owner class into `<profile>.<class>`."""
    require_scratch_database()
    population, data, questions_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    sizes = message_owner_sizes(messages, population, scale=class_scale)
    begin = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    write(f"migrated the scratch database in {time.monotonic() - begin:.1f} s")
    locomo, longmemeval, oracle = default_files()
    begin = time.monotonic()
    sources = read_sources(locomo, longmemeval)
    questions = _questions(oracle)
    warm_up()
    space = topic_space(sources, data)
    write(
        f"read {sources.describe()}; {len(questions)} questions; embedded "
        f"{GLOBAL_TOPICS} topics in {time.monotonic() - begin:.1f} s"
    )
    with psycopg.connect(settings.DATABASE_URL, autocommit=True) as conn:
        conn.add_notice_handler(lambda notice: write(f"  postgres: {notice.message_primary}"))
        register_vector_bytes(conn)
        tune_for_loading(conn)
        begin = time.monotonic()
        owners = create_owners(conn, sizes, sources, space, data)
        write(
            f"{messages:,} messages over {len(owners)} owners, histories made in "
            f"{time.monotonic() - begin:.1f} s; {load_average()}"
        )
        timing = load_histories(conn, owners, data, write)
    connection.close()
    sampled = sample_queries(owners, queries, questions, questions_rng)
    outcomes = run_queries(sampled, write)
    if profile is not None:
        profile_retrieval(sampled, profile, write)
    write("")
    for table in (
        message_report.population_table(owners),
        message_report.retrieve_table(outcomes),
        message_report.list_table(outcomes),
    ):
        write("\n".join(table))
        write("")
    for line in message_report.target_lines(outcomes):
        write(line)
    indexes = ", ".join(f"{name} {s:.0f}" for name, s in timing.index_seconds.items())
    write(
        f"load {timing.copy_seconds:.0f} s, indexes {timing.index_total:.0f} s ({indexes}), "
        f"vacuum {timing.vacuum_seconds:.0f} s; {load_average()}"
    )


def run_arguments(options: dict[str, Any]) -> list[str]:
    """The child's arguments (the parent checks the population before starting servers)."""
    message_owner_sizes(options["messages"], np.random.default_rng(0), scale=options["class_scale"])
    for path in default_files():
        if not path.is_file():
            raise BenchError(f"{path}: no such file (the development data)")
    return [
        "--messages", str(options["messages"]), "--queries", str(options["queries"]),
        "--seed", str(options["seed"]), "--class-scale", str(options["class_scale"]),
        *(["--profile", str(options["profile"].resolve())] if options.get("profile") else []),
    ]  # fmt: skip
