"""Timings of one answer, and their summary as the table `chat_bench` prints."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


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
    """The timed runs of both paths, and the prompt size of each run."""

    direct: list[Timing] = field(default_factory=list)
    round_trip: list[Timing] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)

    def add(self, *, direct: Timing, round_trip: Timing, prompt_tokens: int) -> None:
        self.direct.append(direct)
        self.round_trip.append(round_trip)
        self.prompt_tokens.append(prompt_tokens)

    def lines(self) -> list[str]:
        """`report_lines` of both paths, then the prompt size."""
        low, high = min(self.prompt_tokens), max(self.prompt_tokens)
        sizes = f"{low}" if low == high else f"{low}-{high}"
        summaries = Summary.of("direct", self.direct), Summary.of("round trip", self.round_trip)
        return [
            *report_lines(*summaries),
            f"prompt: {sizes} tokens (system prompt + a new user message each run)",
        ]
