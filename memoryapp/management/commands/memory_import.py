"""`manage.py memory_import locomo|longmemeval FILE`: import a benchmark's conversations as
users and build their memory, synchronously (see `memoryapp.services.imports`).

LoCoMo: one user "locomo-<sample_id>" per conversation, one conversation per session;
speaker_a speaks as "user", speaker_b as "assistant". LongMemEval: one user
"lme-<question_id>" per question, one conversation per haystack session. Users that exist
are kept as they are (their memory build is resumed), so the command can be run again.

`manage.py memory_import json FILE --user NAME [--merge]`: restore a memoryapp export into
the account NAME (created when missing; one with history is refused unless --merge).
`manage.py memory_import chatgpt FILE --user NAME`: import a ChatGPT data export (the .zip or
its conversations.json) into NAME (created when missing); conversations imported before are
skipped. Both are the Memory page's services (`memoryapp.services.memory.importing`), with
memory built here, in this process, instead of by the memory worker; the file is checked
whole before the account is created or anything is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from memoryapp import jobs
from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.locomo_data import locomo_history, read_locomo
from memoryapp.evaluation.longmemeval_data import longmemeval_history, read_longmemeval
from memoryapp.evaluation.memory_runner import import_histories
from memoryapp.services.imports import ImportedHistory, memory_build
from memoryapp.services.memory.chatgpt import chatgpt_read
from memoryapp.services.memory.export_schema import memory_document_validate
from memoryapp.services.memory.importing import (
    ImportOutcome,
    chatgpt_import,
    memory_document_import,
    memory_document_read,
)


def _locomo(path: Path) -> Iterable[ImportedHistory]:
    return map(locomo_history, read_locomo(path))


def _longmemeval(path: Path) -> Iterable[ImportedHistory]:
    return map(longmemeval_history, read_longmemeval(path))


READERS: dict[str, Callable[[Path], Iterable[ImportedHistory]]] = {
    "locomo": _locomo,
    "longmemeval": _longmemeval,
}


# Formats imported into one account (--user), as on the Memory page.
ACCOUNT_FORMATS = ("chatgpt", "json")
# About this many progress lines for an import.
PROGRESS_LINES = 10


def _account(name: str) -> tuple[User, bool]:
    """The user NAME, created (without a password) when missing."""
    existing = User.objects.filter(username=name).first()
    if existing is not None:
        return existing, False
    try:
        User.username_validator(name)
    except ValidationError as exc:
        raise CommandError(f"{name!r} cannot be a username: {' '.join(exc.messages)}") from exc
    user = User(username=name)
    user.set_unusable_password()
    user.save()
    return user, True


class Command(BaseCommand):
    help = (
        "Import a LoCoMo or LongMemEval file as users with conversations and build memory; or "
        "a memoryapp export (json) or a ChatGPT data export (chatgpt) into one account (--user)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "dataset",
            choices=sorted([*READERS, *ACCOUNT_FORMATS]),
            help="what the file is: a benchmark data set, a memoryapp export or a ChatGPT export",
        )
        parser.add_argument(
            "file",
            type=Path,
            help="the data file (.json, or .json.gz); for chatgpt the .zip or conversations.json",
        )
        parser.add_argument(
            "--user", help="json and chatgpt: the account to import into (created when missing)"
        )
        parser.add_argument(
            "--merge",
            action="store_true",
            help="json: add the export to an account that already has conversations or memories",
        )

    def handle(
        self,
        *args: Any,
        dataset: str,
        file: Path,
        user: str | None,
        merge: bool,
        **options: Any,
    ) -> None:
        if dataset in READERS:
            if user is not None or merge:
                raise CommandError(f"--user and --merge are for json and chatgpt, not {dataset}.")
            try:
                import_histories(READERS[dataset](file), self.stdout.write)
            except EvaluationError as exc:
                raise CommandError(str(exc)) from exc
            return
        if not user:
            raise CommandError(f"{dataset} needs --user NAME: the account to import into.")
        if merge and dataset != "json":
            raise CommandError("--merge is for json: a ChatGPT import always adds to the account.")
        started = time.monotonic()
        try:
            if dataset == "json":
                owner, created, outcome = self._json(file, user, merge=merge)
            else:
                owner, created, outcome = self._chatgpt(file, user)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self._report(owner, created, outcome, time.monotonic() - started)

    def _json(self, file: Path, name: str, *, merge: bool) -> tuple[User, bool, ImportOutcome]:
        document = memory_document_read(path=file)
        memory_document_validate(document)
        # An account created for an import that fails is not kept.
        with jobs.run_here():
            with transaction.atomic():
                owner, created = _account(name)
                outcome = memory_document_import(
                    owner=owner,
                    document=document,
                    merge=merge,
                    progress=self._progress("restored"),
                )
            # What was waiting for the memory worker when it was exported is built here.
            memory_build(owner=owner, conversation_ids=[])
        return owner, created, outcome

    def _chatgpt(self, file: Path, name: str) -> tuple[User, bool, ImportOutcome]:
        chatgpt_read(path=file, speaker=name)  # the whole file, before the account exists
        owner, created = _account(name)
        outcome = chatgpt_import(
            owner=owner, path=file, progress=self._progress("ingested"), build_here=True
        )
        return owner, created, outcome

    def _progress(self, verb: str) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            step = max(1, total // PROGRESS_LINES)
            if done and (done % step == 0 or done == total):
                self.stdout.write(f"{verb} {done}/{total} conversations")

        return report

    def _report(self, owner: User, created: bool, outcome: ImportOutcome, seconds: float) -> None:
        name = owner.get_username()
        if created:
            self.stdout.write(
                f"Created the user {name} (no password yet: set one on the Members page, or "
                f"with `manage.py changepassword {name}`)."
            )
        skipped = f" ({outcome.skipped} imported before, skipped)" if outcome.skipped else ""
        self.stdout.write(
            f"Imported into {name}: {outcome.conversations} conversations{skipped}, "
            f"{outcome.messages} messages, {outcome.segments} topics, {outcome.facts} facts "
            f"in {seconds:.1f} s."
        )
        if outcome.private:
            self.stdout.write(f"{name}'s memory is paused: kept as chat history only.")
