"""What the memory benchmarks (`locomo`, `longmemeval`) share: their options, and running
them on the scratch database (`memoryapp.evaluation.scratch`).

`memory_eval <benchmark> ...` started by a person starts scratch servers and runs itself
again there (with MEMORY_LLM set when `--llm` is given); that child process migrates the
scratch database and runs the benchmark.
"""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.scratch import (
    in_scratch_database,
    prepare_scratch_database,
    rerun_in_scratch,
)

Write = Callable[[str], None]
LLM_MODES = ("off", "on", "auto")
DEFAULT_ANSWER_BUDGET = 1024


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ArgumentTypeError(f"{value!r} is not a positive number")
    return number


def add_arguments(parser: ArgumentParser, *, data_help: str, limit_help: str) -> None:
    """--data, --out, --out-budget, --llm, --limit, --answer, --answer-budget."""
    parser.add_argument("--data", type=Path, required=True, help=data_help)
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="write here, per question, the units the --out-budget call packed (JSON lines)",
    )
    parser.add_argument(
        "--out-budget",
        type=positive,
        help="the token budget whose context --out holds, units in prompt order "
        "(default: the chat's CHAT_MEMORY_TOKENS)",
    )
    parser.add_argument(
        "--llm",
        choices=LLM_MODES,
        help="MEMORY_LLM while building memory (default: the configured setting)",
    )
    parser.add_argument("--limit", type=positive, help=limit_help)
    parser.add_argument(
        "--answer",
        action="store_true",
        help="also answer each question with the configured LLM and report token F1",
    )
    parser.add_argument(
        "--answer-budget",
        type=positive,
        default=DEFAULT_ANSWER_BUDGET,
        help=f"tokens of context for --answer (default {DEFAULT_ANSWER_BUDGET})",
    )


def run_on_scratch(
    benchmark: str,
    options: Mapping[str, Any],
    write: Write,
    evaluate_here: Callable[[Mapping[str, Any], Write], object],
) -> None:
    """In the child: migrate and evaluate. Otherwise: start the child on scratch servers."""
    if in_scratch_database():
        prepare_scratch_database()
        write(f"MEMORY_LLM={settings.MEMORY_LLM}")
        evaluate_here(options, write)
        return
    _check_paths(options)
    rerun_in_scratch(
        child_arguments(benchmark, options),
        environment=child_environment(options),
        write=write,
    )


def _check_paths(options: Mapping[str, Any]) -> None:
    data: Path = options["data"]
    out: Path = options["out"]
    if not data.is_file():
        raise EvaluationError(f"{data} is not a file")
    if not out.resolve().parent.is_dir():
        raise EvaluationError(f"{out.parent} is not a directory")


def child_arguments(benchmark: str, options: Mapping[str, Any]) -> list[str]:
    """The child's `memory_eval` arguments (paths made absolute)."""
    arguments = [
        benchmark,
        "--data",
        str(Path(options["data"]).resolve()),
        "--out",
        str(Path(options["out"]).resolve()),
        "--answer-budget",
        str(options.get("answer_budget") or DEFAULT_ANSWER_BUDGET),
        "--out-budget",
        str(out_budget(options)),
    ]
    if options.get("limit"):
        arguments += ["--limit", str(options["limit"])]
    if options.get("answer"):
        arguments.append("--answer")
    return arguments


def child_environment(options: Mapping[str, Any]) -> dict[str, str]:
    """MEMORY_LLM from --llm; nothing when the setting is to be followed."""
    mode = options.get("llm")
    return {"MEMORY_LLM": str(mode)} if mode else {}


def answer_budget(options: Mapping[str, Any]) -> int | None:
    """The context budget for answering, or None without --answer."""
    if not options.get("answer"):
        return None
    return int(options.get("answer_budget") or DEFAULT_ANSWER_BUDGET)


def out_budget(options: Mapping[str, Any]) -> int:
    """The budget whose packed context `--out` holds: --out-budget, else the chat's."""
    return int(options.get("out_budget") or settings.CHAT_MEMORY_TOKENS)
