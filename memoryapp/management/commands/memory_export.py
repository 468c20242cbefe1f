"""`manage.py memory_export --user NAME --out FILE`: write a person's memory as one JSON
document (`memoryapp.services.memory.export`; schema: README, "Export format")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.services.memory.export import memory_export_text


class Command(BaseCommand):
    help = "Export a user's conversations and memory as one JSON document."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="the username whose memory to export")
        parser.add_argument(
            "--out", required=True, help="the file to write, or - for standard output"
        )

    def handle(self, *args: Any, user: str, out: str, **options: Any) -> None:
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}: nothing was exported.")
        text = memory_export_text(owner=owner)
        if out == "-":
            self.stdout.write(text, ending="")
            return
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {out}: {exc.strerror}") from exc
        self.stdout.write(f"Exported {user}'s memory to {out}.")
