"""Breaks a scratch copy of the whole stack on purpose and says how it came back."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.devstack.drill import fault_drill


class Command(BaseCommand):
    help = (
        "Start the whole stack on scratch servers, then kill -9 each process and restart Redis "
        "and Postgres in turn, printing what was done and what was seen (recovery times, what "
        "a message sent during an outage got back). The make run data is not touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--keep", action="store_true", help="keep the scratch directory and its log"
        )

    def handle(self, *args: Any, keep: bool, **options: Any) -> None:
        if fault_drill(lambda line: self.stdout.write(f"[drill] {line}"), keep=keep) != 0:
            raise CommandError("the stack did not come back from a fault (see above)")
