"""Evaluation against public benchmarks: dataset readers, metrics, and one module per benchmark.

Each benchmark module (`segmentation`, ...) is a subcommand of `manage.py memory_eval`: it
provides `HELP`, `add_arguments(parser)` and `run(options, write)` (see `Benchmark`), and
raises `EvaluationError` for problems the person running it can fix.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable, Mapping
from typing import Any, Protocol


class EvaluationError(Exception):
    """An evaluation cannot run (bad file, unknown format...); the message says why."""


class Benchmark(Protocol):
    """What `manage.py memory_eval` needs from a benchmark module."""

    HELP: str

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the subcommand's options."""

    def run(self, options: Mapping[str, Any], write: Callable[[str], None]) -> None:
        """Run with the parsed options, writing the report line by line."""
