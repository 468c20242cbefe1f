"""`chat_bench`'s summary of its runs: percentiles and the first-token check."""

from __future__ import annotations

import pytest

from memoryapp.benchmarks.timing import (
    WEB_AND_QUEUE,
    WEBSOCKET,
    BenchResults,
    Timing,
    percentile,
)


def test_percentiles_interpolate_between_the_nearest_values() -> None:
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([5.0, 1.0, 4.0, 2.0, 3.0], 0.95) == pytest.approx(4.8)


def _results(full_ms: list[float], bare_ms: list[float], retrieval_ms: list[float]) -> BenchResults:
    results = BenchResults()
    for full, bare, retrieval in zip(full_ms, bare_ms, retrieval_ms, strict=True):
        stages = {WEB_AND_QUEUE: 5.0, "claim": 2.0, "context": retrieval, "model": bare}
        results.add(
            direct=Timing(first_token=bare / 1000, generation=1.0, tokens=10),
            round_trip=Timing(first_token=full / 1000, generation=1.0, tokens=10),
            prompt_tokens=100,
            stages_ms={**stages, "prompt": 1.0, "send": 1.0, WEBSOCKET: 1.0},
            bench_retrieval_ms=retrieval,
        )
    return results


def test_the_check_is_met_within_the_retrieval_p95_and_30_ms() -> None:
    lines = _results([130.0, 140.0, 150.0], [100.0, 100.0, 100.0], [10.0, 20.0, 30.0]).lines(
        prompt="a question"
    )

    assert "prompt: 100 tokens (a question)" in lines
    assert (
        "first token p50 / p95 over 3 runs: bare model 100.0 / 100.0 ms, full path 140.0 / 149.0 ms"
    ) in lines
    assert any(
        line.startswith("retrieval in the worker") and "p50 / p95: 20.0 / 29.0 ms" in line
        for line in lines
    )
    assert (
        "check: full path p50 140.0 ms <= bare p50 100.0 + retrieval p95 29.0 + 30 ms = "
        "159.0 ms: met (margin +19.0 ms)"
    ) in lines
    assert "per run, full path - bare - retrieval: median 20.0 ms (min 20.0, max 20.0)" in lines
    assert (
        "outside the model and retrieval (web and queue, claim, prompt, send, websocket): "
        "10.0 / 10.0 ms (p50 / p95; the goal's 30 ms)"
    ) in lines
    assert (
        "full path to the first token, medians in ms: web and queue 5.0, claim 2.0, "
        "context 20.0, prompt 1.0, model 100.0, send 1.0, websocket 1.0"
    ) in lines


def test_the_check_says_not_met_and_by_how_much() -> None:
    lines = _results([200.0], [100.0], [10.0]).lines(prompt="a question")

    assert (
        "check: full path p50 200.0 ms <= bare p50 100.0 + retrieval p95 10.0 + 30 ms = "
        "140.0 ms: not met (margin -60.0 ms)"
    ) in lines
