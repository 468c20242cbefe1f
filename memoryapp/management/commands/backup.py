"""`manage.py backup --out DIR`: the database (one consistent snapshot), every person's export
document and the list of model files, with a manifest (`memoryapp.services.backup`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.services.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "Back up the whole installation into a new directory (restore it with `restore`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out", required=True, type=Path, help="a new or empty directory to write"
        )
        parser.add_argument(
            "--no-model-checksums",
            action="store_true",
            help="list the model files with their sizes only (hashing large models takes minutes)",
        )

    def handle(self, *args: Any, out: Path, no_model_checksums: bool, **options: Any) -> None:
        try:
            result = backup_create(out=out, model_checksums=not no_model_checksums)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = result.manifest
        rows = sum(manifest.tables.values())
        self.stdout.write(
            f"Backed up {rows:,} rows in {len(manifest.tables)} tables, "
            f"{len(manifest.exports)} person(s)' export documents and the list of "
            f"{len(manifest.models)} model file(s) to {result.directory} "
            f"({result.size:,} bytes, {result.seconds:.1f}s)."
        )
