"""`manage.py memory_eval <benchmark> ...`: measure the memory against public benchmarks.

Each benchmark is a module of `memoryapp.evaluation` (see `Benchmark`); adding one is one
entry in `BENCHMARKS`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.evaluation import (
    Benchmark,
    EvaluationError,
    locomo,
    longmemeval,
    segmentation,
    segmentation_fit,
)

BENCHMARKS: dict[str, Benchmark] = {
    "segmentation": segmentation,
    "segmentation-fit": segmentation_fit,
    "locomo": locomo,
    "longmemeval": longmemeval,
}


class Command(BaseCommand):
    help = "Evaluate the memory on a benchmark and print the results."

    def add_arguments(self, parser: CommandParser) -> None:
        benchmarks = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
        for name, benchmark in BENCHMARKS.items():
            benchmark.add_arguments(benchmarks.add_parser(name, help=benchmark.HELP))

    def handle(self, *args: Any, benchmark: str, **options: Any) -> None:
        try:
            BENCHMARKS[benchmark].run(options, self.stdout.write)
        except EvaluationError as exc:
            raise CommandError(str(exc)) from exc
