"""The tables `memory_bench retrieval` prints: one row per table size, then per size class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from memoryapp.benchmarks.scale.measure import Outcome
from memoryapp.benchmarks.scale.population import LARGE

TARGET_P95_MS = 50.0
TARGET_RECALL = 0.95
STAGE_COLUMNS = (
    "units",
    "queries",
    "app p50/p95/p99 ms",
    "exact p50/p95/p99 ms",
    "recall@10",
    "recall@10 large",
    "full-text p50/p95/p99 ms",
    "load+index s",
)
CLASS_COLUMNS = (
    "class",
    "owners",
    "queries",
    "app p50/p95/p99 ms",
    "exact p50/p95/p99 ms",
    "recall@10",
    "worst recall@10",
    "full-text p50/p95/p99 ms",
)


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return cls(float(p50), float(p95), float(p99))

    def text(self) -> str:
        return f"{self.p50:.1f} / {self.p95:.1f} / {self.p99:.1f}"


@dataclass(frozen=True)
class StageReport:
    units: int
    queries: int
    app: Percentiles
    exact: Percentiles
    recall: float
    recall_large: float | None
    lexical: Percentiles
    load_seconds: float

    @classmethod
    def of(cls, units: int, outcomes: Sequence[Outcome], load_seconds: float) -> StageReport:
        large = [o.recall for o in outcomes if o.query.size_class == LARGE.name]
        return cls(
            units=units,
            queries=len(outcomes),
            app=Percentiles.of([o.app_ms for o in outcomes]),
            exact=Percentiles.of([o.exact_ms for o in outcomes]),
            recall=float(np.mean([o.recall for o in outcomes])),
            recall_large=float(np.mean(large)) if large else None,
            lexical=Percentiles.of([o.lexical_ms for o in outcomes]),
            load_seconds=load_seconds,
        )

    def cells(self) -> tuple[str, ...]:
        large = "n/a" if self.recall_large is None else f"{self.recall_large:.3f}"
        return (
            f"{self.units:,}",
            str(self.queries),
            self.app.text(),
            self.exact.text(),
            f"{self.recall:.3f}",
            large,
            self.lexical.text(),
            f"{self.load_seconds:.0f}",
        )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return " | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))

    return [line(header), "-+-".join("-" * width for width in widths), *map(line, rows)]


def stage_table(reports: Sequence[StageReport]) -> list[str]:
    return _table(STAGE_COLUMNS, [report.cells() for report in reports])


def class_table(outcomes: Sequence[Outcome], owners_per_class: Counter[str]) -> list[str]:
    """Latency and recall per size class of the queried owners."""
    rows = []
    for name in sorted({o.query.size_class for o in outcomes}):
        mine = [o for o in outcomes if o.query.size_class == name]
        recalls = [o.recall for o in mine]
        rows.append(
            (
                name,
                str(owners_per_class[name]),
                str(len(mine)),
                Percentiles.of([o.app_ms for o in mine]).text(),
                Percentiles.of([o.exact_ms for o in mine]).text(),
                f"{np.mean(recalls):.3f}",
                f"{min(recalls):.1f}",
                Percentiles.of([o.lexical_ms for o in mine]).text(),
            )
        )
    return _table(CLASS_COLUMNS, rows)


def target_line(report: StageReport) -> str:
    """Whether the app's path meets p95 < 50 ms at recall@10 >= 0.95 (large owners' recall
    when there are any: the others are exact)."""
    recall = report.recall if report.recall_large is None else report.recall_large
    misses = []
    if report.app.p95 >= TARGET_P95_MS:
        misses.append(f"p95 {report.app.p95:.1f} ms is {report.app.p95 / TARGET_P95_MS:.2f}x")
    if recall < TARGET_RECALL:
        misses.append(f"recall@10 {recall:.3f} is {TARGET_RECALL - recall:.3f} short")
    verdict = "met" if not misses else "missed: " + "; ".join(misses)
    return (
        f"target at {report.units:,} units (app p95 < {TARGET_P95_MS:.0f} ms, "
        f"recall@10 >= {TARGET_RECALL}): {verdict}"
    )
