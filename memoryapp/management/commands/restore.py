"""`manage.py restore DIR`: a backup made by `backup` into an empty installation, then
migrations (`memoryapp.services.backup`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.services.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup directory into this installation's empty database, then migrate it. "
        "Stop the web and worker processes first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", type=Path, help="a directory written by `backup`")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace a database that already has accounts (its data is lost): the "
            "rollback after an upgrade, to the backup taken before it",
        )

    def handle(self, *args: Any, source: Path, force: bool, **options: Any) -> None:
        try:
            result = backup_restore(source=source, force=force)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = result.manifest
        self.stdout.write(
            f"Restored {sum(manifest.tables.values()):,} rows in {len(manifest.tables)} tables "
            f"from {source} (made {manifest.created_at:%Y-%m-%d %H:%M %Z} by memoryapp "
            f"{manifest.app_version}); every table's row count matches the manifest "
            f"({result.seconds:.1f}s)."
        )
        if result.migrations_applied:
            self.stdout.write(f"Migrated forward: {', '.join(result.migrations_applied)}.")
        for table, (before, after) in sorted(result.changed_by_migrations.items()):
            self.stdout.write(f"The migrations changed {table}: {before:,} -> {after:,} rows.")
        for model in result.models_missing:
            self.stdout.write(
                f"Model file not found here: {model.path} ({model.size:,} bytes); download "
                "it again or copy it into the models directory."
            )
