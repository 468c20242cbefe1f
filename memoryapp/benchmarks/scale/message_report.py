"""The tables `memory_bench retrieval --messages N` prints: the owners per class, end to end
latency per class, and per list latency and recall per class, with the issue's goals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memoryapp.benchmarks.scale.message_measure import DENSE, Outcome, hnsw_route, list_calls
from memoryapp.benchmarks.scale.message_rows import MessageOwner
from memoryapp.benchmarks.scale.report import Percentiles, _table

# Issue 15's goals: p95 per class nominal size, and recall of the fast paths.
TARGET_P95_MS = {10_000: 20.0, 100_000: 50.0}
TARGET_RECALL = 0.95
# Medians per owner of the class.
POPULATION_COLUMNS = ("class", "owners", "messages", "passages", "segments", "facts")
RETRIEVE_COLUMNS = (
    "class",
    "queries",
    "retrieve_units p50/p95/p99 ms",
    "of which question embedding p50/p95 ms",
    "units p50",
)
LIST_COLUMNS = ("class", "list", "p50/p95/p99 ms", "recall@10", "HNSW route")


def _classes(owners: Sequence[MessageOwner]) -> list[tuple[str, list[MessageOwner]]]:
    """Classes by nominal size, smallest first, with their owners."""
    by_nominal: dict[int, list[MessageOwner]] = {}
    for owner in owners:
        by_nominal.setdefault(owner.size.size_class.nominal, []).append(owner)
    return [(group[0].label, group) for _, group in sorted(by_nominal.items())]


def _median(owners: Sequence[MessageOwner], name: str) -> str:
    return f"{int(np.median([owner.counts.get(name, 0) for owner in owners])):,}"


def population_table(owners: Sequence[MessageOwner]) -> list[str]:
    rows = [
        (
            label,
            str(len(group)),
            *(_median(group, name) for name in ("messages", "passages", "segments", "facts")),
        )
        for label, group in _classes(owners)
    ]
    return _table(POPULATION_COLUMNS, rows)


def _by_class(outcomes: Sequence[Outcome]) -> list[tuple[str, list[Outcome]]]:
    owners = list({id(o.query.owner): o.query.owner for o in outcomes}.values())
    return [
        (label, [o for o in outcomes if o.query.owner.label == label])
        for label, _ in _classes(owners)
    ]


def retrieve_table(outcomes: Sequence[Outcome]) -> list[str]:
    rows = []
    for label, mine in _by_class(outcomes):
        embed = Percentiles.of([o.embed_ms for o in mine])
        rows.append(
            (
                label,
                str(len(mine)),
                Percentiles.of([o.retrieve_ms for o in mine]).text(),
                f"{embed.p50:.1f} / {embed.p95:.1f}",
                f"{np.median([o.units for o in mine]):.0f}",
            )
        )
    return _table(RETRIEVE_COLUMNS, rows)


def list_table(outcomes: Sequence[Outcome]) -> list[str]:
    names = list(list_calls(0, [], ""))
    rows = []
    for label, mine in _by_class(outcomes):
        for name in names:
            timed = Percentiles.of([(o.list_ms or {})[name] for o in mine]).text()
            if name in DENSE:
                found = f"{np.mean([(o.recall or {})[name] for o in mine]):.3f}"
                routed = np.mean([hnsw_route(o.query.owner, name) for o in mine])
                route = f"{routed:.0%}"
            else:
                found, route = "", ""
            rows.append((label, name, timed, found, route))
    return _table(LIST_COLUMNS, rows)


def target_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """Per class, whether retrieve_units meets its p95 goal and the fast paths their recall
    (the question's embedding included: it is part of the chat's retrieval)."""
    lines = []
    for label, mine in _by_class(outcomes):
        nominal = mine[0].query.owner.size.size_class.nominal
        goal = next((ms for size, ms in sorted(TARGET_P95_MS.items()) if nominal <= size), None)
        if goal is None:
            continue
        p95 = Percentiles.of([o.retrieve_ms for o in mine]).p95
        misses = [] if p95 <= goal else [f"p95 {p95:.1f} ms is {p95 / goal:.1f}x"]
        for name in DENSE:
            routed = [o for o in mine if hnsw_route(o.query.owner, name)]
            worst = np.mean([(o.recall or {})[name] for o in routed]) if routed else 1.0
            if worst < TARGET_RECALL:
                misses.append(f"{name} recall@10 {worst:.3f}")
        verdict = "met" if not misses else "missed: " + "; ".join(misses)
        lines.append(
            f"goal for {label} owners (retrieve_units p95 <= {goal:.0f} ms, recall@10 of the "
            f"HNSW route >= {TARGET_RECALL}): {verdict}"
        )
    return lines
