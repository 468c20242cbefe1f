"""`manage.py memory_bench <benchmark> ...`: performance benchmarks of the memory that print
their numbers. Each runs on its own scratch servers, never on the app's data."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.scale import ingestion, retrieval
from memoryapp.benchmarks.scale.scratch import in_scratch_database

BENCHMARKS = {"retrieval": retrieval, "import": ingestion}
INTERRUPTED_EXIT_CODE = 130


class Command(BaseCommand):
    help = "Benchmark the memory at scale on a scratch database and print the results."

    def add_arguments(self, parser: CommandParser) -> None:
        benchmarks = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
        for name, benchmark in BENCHMARKS.items():
            benchmark.add_arguments(benchmarks.add_parser(name, help=benchmark.HELP))

    def handle(self, *args: Any, benchmark: str, **options: Any) -> None:
        try:
            BENCHMARKS[benchmark].run(options, self.stdout.write)
        except BenchError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            if in_scratch_database():  # the child: the parent reports it
                raise SystemExit(INTERRUPTED_EXIT_CODE) from None
            raise CommandError("interrupted; the scratch database is deleted") from None
