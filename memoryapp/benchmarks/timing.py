"""Timings of one answer, and their summary as the table `chat_bench` prints."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from memoryapp.services.answer_timing import STAGES as STAGE_NAMES


@dataclass(frozen=True)
class Timing:
    """One answer: seconds to the first token, seconds from it to the end, tokens generated."""

    first_token: float
    generation: float
    tokens: int

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.generation if self.generation > 0 else 0.0


@dataclass(frozen=True)
class Summary:
    """Medians (and the TTFT range) of one path's timed runs."""

    path: str
    first_token_ms: float
    tokens_per_second: float
    tokens: float
    runs: int
    first_token_min_ms: float
    first_token_max_ms: float

    @classmethod
    def of(cls, path: str, timings: Sequence[Timing]) -> Summary:
        first_tokens = [timing.first_token * 1000 for timing in timings]
        return cls(
            path=path,
            first_token_ms=statistics.median(first_tokens),
            tokens_per_second=statistics.median(t.tokens_per_second for t in timings),
            tokens=statistics.median(t.tokens for t in timings),
            runs=len(timings),
            first_token_min_ms=min(first_tokens),
            first_token_max_ms=max(first_tokens),
        )


# The goal of issue 15: the full path's first token within the bare model's, the retrieval's
# p95 and this much more.
ALLOWANCE_MS = 30.0
# Where the full path's time to the first token goes, in order: the web server's handling of
# the post and the queue (until the job starts), the worker's stages (`answer_timing.STAGES`),
# then the fragment's way through the channel layer and the websocket.
WEB_AND_QUEUE = "web and queue"
WEBSOCKET = "websocket"
# The stages that are neither the model nor retrieval: what the goal's 30 ms are for.
OVERHEAD = (WEB_AND_QUEUE, "claim", "prompt", "send", WEBSOCKET)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` quantile of `values`, interpolated linearly between the nearest two."""
    ordered = sorted(values)
    at = (len(ordered) - 1) * fraction
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _p50_p95(values: Sequence[float]) -> str:
    return f"{percentile(values, 0.5):.1f} / {percentile(values, 0.95):.1f} ms"


_COLUMNS = ("path", "median TTFT ms", "median tokens/s", "median tokens", "runs")


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator else "n/a"


def report_lines(direct: Summary, round_trip: Summary) -> list[str]:
    """The results table, the ratios and the TTFT ranges, as lines of text."""
    rows = [
        _COLUMNS,
        *(
            (
                summary.path,
                f"{summary.first_token_ms:.1f}",
                f"{summary.tokens_per_second:.1f}",
                f"{summary.tokens:g}",
                str(summary.runs),
            )
            for summary in (direct, round_trip)
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(
            [
                row[0].ljust(widths[0]),
                *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
            ]
        )
        for row in rows
    ]
    lines.append(
        "ratio (round trip / direct): "
        f"TTFT {_ratio(round_trip.first_token_ms, direct.first_token_ms)}, "
        f"tokens/s {_ratio(round_trip.tokens_per_second, direct.tokens_per_second)}"
    )
    lines.extend(
        f"TTFT min/max {summary.path}: "
        f"{summary.first_token_min_ms:.1f} / {summary.first_token_max_ms:.1f} ms"
        for summary in (direct, round_trip)
    )
    return lines


@dataclass
class BenchResults:
    """The timed runs of both paths: each run's prompt size, where its full path's time to
    the first token went (milliseconds by stage, `WEB_AND_QUEUE` to `WEBSOCKET`), and how
    long the same retrieval (`context_for_answer`) took in the benchmark's own process."""

    direct: list[Timing] = field(default_factory=list)
    round_trip: list[Timing] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    stages_ms: list[dict[str, float]] = field(default_factory=list)
    bench_retrieval_ms: list[float] = field(default_factory=list)

    def add(
        self,
        *,
        direct: Timing,
        round_trip: Timing,
        prompt_tokens: int,
        stages_ms: dict[str, float],
        bench_retrieval_ms: float,
    ) -> None:
        self.direct.append(direct)
        self.round_trip.append(round_trip)
        self.prompt_tokens.append(prompt_tokens)
        self.stages_ms.append(stages_ms)
        self.bench_retrieval_ms.append(bench_retrieval_ms)

    def lines(self, *, prompt: str) -> list[str]:
        """`report_lines` of both paths, the prompt size (`prompt` says what it holds), then
        the first-token check (`check_lines`)."""
        low, high = min(self.prompt_tokens), max(self.prompt_tokens)
        sizes = f"{low}" if low == high else f"{low}-{high}"
        summaries = Summary.of("direct", self.direct), Summary.of("round trip", self.round_trip)
        return [
            *report_lines(*summaries),
            f"prompt: {sizes} tokens ({prompt})",
            *self.check_lines(),
        ]

    def check_lines(self) -> list[str]:
        """p50/p95 of the bare model's and the full path's first token and of the worker's
        retrieval, the goal's check, the per-run excess and where the full path's time went."""
        bare = [t.first_token * 1000 for t in self.direct]
        full = [t.first_token * 1000 for t in self.round_trip]
        retrieval = [stages.get("context", 0.0) for stages in self.stages_ms]
        limit = percentile(bare, 0.5) + percentile(retrieval, 0.95) + ALLOWANCE_MS
        full_p50 = percentile(full, 0.5)
        excess = [f - b - r for f, b, r in zip(full, bare, retrieval, strict=True)]
        names = [WEB_AND_QUEUE, *STAGE_NAMES, WEBSOCKET]
        overhead = [sum(s.get(name, 0.0) for name in OVERHEAD) for s in self.stages_ms]
        medians = ", ".join(
            f"{name} {statistics.median(s.get(name, 0.0) for s in self.stages_ms):.1f}"
            for name in names
        )
        return [
            f"first token p50 / p95 over {len(full)} runs: bare model {_p50_p95(bare)}, "
            f"full path {_p50_p95(full)}",
            "retrieval in the worker (context_for_answer: memory, recent turns, profile) "
            f"p50 / p95: {_p50_p95(retrieval)}; the same in this process: "
            f"{_p50_p95(self.bench_retrieval_ms)}",
            f"check: full path p50 {full_p50:.1f} ms <= bare p50 {percentile(bare, 0.5):.1f} "
            f"+ retrieval p95 {percentile(retrieval, 0.95):.1f} + {ALLOWANCE_MS:.0f} ms = "
            f"{limit:.1f} ms: {'met' if full_p50 <= limit else 'not met'} "
            f"(margin {limit - full_p50:+.1f} ms)",
            f"per run, full path - bare - retrieval: median {statistics.median(excess):.1f} ms "
            f"(min {min(excess):.1f}, max {max(excess):.1f})",
            f"outside the model and retrieval ({', '.join(OVERHEAD)}): "
            f"{_p50_p95(overhead)} (p50 / p95; the goal's {ALLOWANCE_MS:.0f} ms)",
            f"full path to the first token, medians in ms: {medians}",
        ]


def load_averages() -> str:
    """The machine's load averages, to judge how busy it was while timed."""
    one, five, fifteen = os.getloadavg()
    return (
        f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) "
        f"on {os.cpu_count()} CPUs"
    )
