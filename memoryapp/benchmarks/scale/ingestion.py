"""`memory_bench import`: how fast memory is built from an imported history, beside the
embedding model's own speed on the same texts.

The command re-runs itself on a scratch Postgres (`scratch.py`) with MEMORY_LLM=off. There it
migrates the empty database and builds one person's history of `--messages` turns from the
LoCoMo and LongMemEval development files (`histories.py`: real turns, replicated with fresh
dates and names). It embeds those turns' texts once with `embed_texts` alone (the model's
throughput, after a warm-up), then imports them as `memory_import` does: the conversations
and messages stored in one transaction (`conversations_store`), then `memory_build` (message
embeddings, passages, segmentation, consolidation with the LLM stages off). It prints
messages per second end to end, the embedding model's sentences per second, and their ratio.
`--profile FILE` writes the cProfile statistics of the build to FILE and prints their top.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.profiling import profiled
from memoryapp.benchmarks.scale.histories import read_sources, replicated_history
from memoryapp.benchmarks.scale.measure import load_average
from memoryapp.benchmarks.scale.scratch import (
    in_scratch_database,
    require_scratch_database,
    rerun_in_scratch,
)
from memoryapp.embeddings import embed_texts, warm_up
from memoryapp.models import JobStatus, Message, Passage, Segment
from memoryapp.services.imports import conversations_store, memory_build

Write = Callable[[str], None]
HELP = (
    "Messages/s of building memory from an imported history (store, embeddings, passages, "
    "segments, consolidation without the LLM), beside the embedding model's sentences/s."
)
DEFAULT_MESSAGES = 10_000
USERNAME = "bench-import"
TARGET_MESSAGES_PER_SECOND = 150.0
TARGET_RATIO = 2.0


def _data_dir() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "data"


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--messages",
        type=_positive,
        default=DEFAULT_MESSAGES,
        help=f"messages in the imported history (default {DEFAULT_MESSAGES:,})",
    )
    parser.add_argument(
        "--locomo",
        type=Path,
        default=_data_dir() / "locomo" / "locomo_dev.json",
        help="a LoCoMo file whose sessions are replicated (default: the development split)",
    )
    parser.add_argument(
        "--longmemeval",
        type=Path,
        default=_data_dir() / "longmemeval" / "longmemeval_s_dev.json.gz",
        help="a LongMemEval file whose sessions are replicated (default: the development split)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the replication")
    parser.add_argument(
        "--profile", type=Path, help="write the build's cProfile statistics to this file"
    )


def run(options: dict[str, Any], write: Write) -> None:
    if in_scratch_database():
        benchmark(
            messages=options["messages"],
            locomo=options["locomo"],
            longmemeval=options["longmemeval"],
            seed=options["seed"],
            profile=options.get("profile"),
            write=write,
        )
        return
    arguments = ["--messages", str(options["messages"]), "--seed", str(options["seed"])]
    for name in ("locomo", "longmemeval"):
        path: Path = options[name]
        if not path.is_file():
            raise BenchError(f"--{name} {path}: no such file")
        arguments += [f"--{name}", str(path.resolve())]
    profile: Path | None = options.get("profile")
    if profile is not None:
        if not profile.resolve().parent.is_dir():
            raise BenchError(f"--profile {profile}: {profile.parent} is not a directory")
        arguments += ["--profile", str(profile.resolve())]
    begin = time.monotonic()
    rerun_in_scratch(
        ["memory_bench", "import", *arguments], write=write, environment={"MEMORY_LLM": "off"}
    )
    write(f"scratch database deleted; {time.monotonic() - begin:.0f} s in all")


@dataclass(frozen=True)
class Result:
    messages: int
    conversations: int
    passages: int
    segments: int
    consolidated: int
    store_seconds: float
    build_seconds: float
    embedding_seconds: float

    @property
    def seconds(self) -> float:
        return self.store_seconds + self.build_seconds

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds

    @property
    def sentences_per_second(self) -> float:
        return self.messages / self.embedding_seconds

    @property
    def ratio(self) -> float:
        """How many times slower building memory is than embedding the same texts."""
        return self.sentences_per_second / self.messages_per_second


def benchmark(
    *,
    messages: int,
    locomo: Path,
    longmemeval: Path,
    seed: int,
    profile: Path | None,
    write: Write,
) -> Result:
    """Build the history, time the bare embedding and the import, print the results."""
    require_scratch_database()
    if settings.MEMORY_LLM != "off":
        raise BenchError(f"MEMORY_LLM={settings.MEMORY_LLM}: the benchmark runs with it off")
    begin = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    write(f"migrated the scratch database in {time.monotonic() - begin:.1f} s")
    sources = read_sources(locomo, longmemeval)
    conversations = replicated_history(sources, messages, np.random.default_rng(seed))
    texts = [m.content for c in conversations for m in c.messages]
    write(
        f"{sources.describe()}; history of {len(texts):,} messages in "
        f"{len(conversations):,} conversations, "
        f"{sum(len(t.split()) for t in texts) / len(texts):.0f} words a message on average"
    )
    warm_up()
    write(f"embedding {len(texts):,} texts alone; {load_average()}")
    started = time.monotonic()
    embed_texts(texts)
    embedding_seconds = time.monotonic() - started
    owner = User.objects.create_user(USERNAME)
    write(f"importing them; {load_average()}")
    started = time.monotonic()
    with transaction.atomic():
        conversations_store(owner=owner, conversations=conversations)
    store_seconds = time.monotonic() - started
    started = time.monotonic()
    with profiled(profile, "the build", write):
        memory_build(owner=owner)
    build_seconds = time.monotonic() - started
    segments = Segment.objects.filter(owner=owner, status=Segment.Status.CLOSED)
    result = Result(
        messages=Message.objects.filter(owner=owner).count(),
        conversations=len(conversations),
        passages=Passage.objects.filter(owner=owner).count(),
        segments=segments.count(),
        consolidated=segments.filter(job_status=JobStatus.DONE).count(),
        store_seconds=store_seconds,
        build_seconds=build_seconds,
        embedding_seconds=embedding_seconds,
    )
    connection.close()
    for line in report(result):
        write(line)
    write(f"benchmark finished in {time.monotonic() - begin:.0f} s; {load_average()}")
    return result


def report(result: Result) -> list[str]:
    met = result.messages_per_second >= TARGET_MESSAGES_PER_SECOND and result.ratio <= TARGET_RATIO
    return [
        "",
        f"messages {result.messages:,}, conversations {result.conversations:,}, "
        f"passages {result.passages:,}, closed segments {result.segments:,} "
        f"({result.consolidated:,} consolidated)",
        f"store {result.store_seconds:.1f} s, build {result.build_seconds:.1f} s "
        f"(embeddings, passages, segments, consolidation), end to end {result.seconds:.1f} s",
        f"end to end: {result.messages_per_second:.1f} messages/s",
        f"embedding model alone on the same texts: {result.sentences_per_second:.1f} "
        f"sentences/s ({result.embedding_seconds:.1f} s)",
        f"ratio (embedding alone / end to end): {result.ratio:.2f}",
        f"target (>= {TARGET_MESSAGES_PER_SECOND:.0f} messages/s, ratio <= {TARGET_RATIO:.0f}): "
        + ("met" if met else "not met"),
    ]
