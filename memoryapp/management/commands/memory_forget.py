"""`manage.py memory_forget --user NAME (--conversation ID | --fact ID | --segment ID | --all)
[--dry-run]`: forget one conversation, fact or topic of a person, or everything, with all that
was learned from it (`memoryapp.services.memory.forget`); `--dry-run` prints what would go."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.services.memory.forget import (
    ForgetPreview,
    ForgetTarget,
    Kind,
    forget_preview,
    memory_forget,
)
from memoryapp.services.memory.locks import MemoryBusy

# The options naming a target, by the kind each names.
TARGETS: dict[str, Kind] = {"conversation": "conversation", "fact": "fact", "segment": "segment"}


class Command(BaseCommand):
    help = "Forget a conversation, fact or topic of a user, or everything, for good."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="the username whose memory to change")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--conversation", metavar="ID", help="a conversation's id")
        which.add_argument("--fact", metavar="ID", help="a fact's id")
        which.add_argument("--segment", metavar="ID", help="a topic's (segment's) id")
        which.add_argument("--all", action="store_true", help="every conversation and memory")
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would be forgotten, change nothing"
        )

    def handle(self, *args: Any, user: str, dry_run: bool, **options: Any) -> None:
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}: nothing was forgotten.")
        target = self._target(options)
        try:
            if dry_run:
                found = forget_preview(owner=owner, target=target)
            else:
                found = memory_forget(owner=owner, target=target)
        except ObjectDoesNotExist as error:
            raise CommandError(
                f"{user} has no {target.kind} {target.id}: nothing was forgotten."
            ) from error
        except MemoryBusy as error:
            raise CommandError(str(error)) from error
        self._report(found, dry_run=dry_run)

    def _target(self, options: dict[str, Any]) -> ForgetTarget:
        if options["all"]:
            return ForgetTarget("all")
        for option, kind in TARGETS.items():
            if options[option] is not None:
                try:
                    return ForgetTarget(kind, uuid.UUID(options[option]))
                except ValueError as error:
                    raise CommandError(
                        f"--{option} takes an id such as {uuid.UUID(int=0)}, "
                        f"not {options[option]!r}: nothing was forgotten."
                    ) from error
        raise CommandError("Say what to forget: --conversation, --fact, --segment or --all.")

    def _report(self, found: ForgetPreview, *, dry_run: bool) -> None:
        head = "Would forget" if dry_run else "Forgot"
        self.stdout.write(f"{head}:")
        if found.conversations:
            self.stdout.write(f"  conversations: {found.conversations}")
        for name, count in found.counts.items():
            self.stdout.write(f"  {name}: {count}")
        if found.facts_losing_a_source:
            losing = "Would keep" if dry_run else "Kept"
            self.stdout.write(f"{losing}, with their other sources only:")
            for fact in found.facts_losing_a_source:
                self.stdout.write(f"  {fact.pk}  {fact.text}")
        if dry_run:
            self.stdout.write("Nothing was changed (--dry-run).")
