"""`manage.py memory_import locomo|longmemeval FILE`: import a benchmark's conversations as
users and build their memory, synchronously (see `memoryapp.services.imports`).

LoCoMo: one user "locomo-<sample_id>" per conversation, one conversation per session;
speaker_a speaks as "user", speaker_b as "assistant". LongMemEval: one user
"lme-<question_id>" per question, one conversation per haystack session. Users that exist
are kept as they are (their memory build is resumed), so the command can be run again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.locomo_data import locomo_history, read_locomo
from memoryapp.evaluation.longmemeval_data import longmemeval_history, read_longmemeval
from memoryapp.evaluation.memory_runner import import_histories
from memoryapp.services.imports import ImportedHistory


def _locomo(path: Path) -> Iterable[ImportedHistory]:
    return map(locomo_history, read_locomo(path))


def _longmemeval(path: Path) -> Iterable[ImportedHistory]:
    return map(longmemeval_history, read_longmemeval(path))


READERS: dict[str, Callable[[Path], Iterable[ImportedHistory]]] = {
    "locomo": _locomo,
    "longmemeval": _longmemeval,
}


class Command(BaseCommand):
    help = "Import a LoCoMo or LongMemEval file as users with conversations and build memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "dataset", choices=sorted(READERS), help="the data set the file is from"
        )
        parser.add_argument("file", type=Path, help="the data file (.json, or .json.gz)")

    def handle(self, *args: Any, dataset: str, file: Path, **options: Any) -> None:
        try:
            import_histories(READERS[dataset](file), self.stdout.write)
        except EvaluationError as exc:
            raise CommandError(str(exc)) from exc
