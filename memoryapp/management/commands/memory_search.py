"""`manage.py memory_search --user NAME --query TEXT [--json]`: the units of memory the chat
would put in an answer's context for TEXT (`selectors.memory_search`, as the Memory page's
search shows them), each with its number, kind, tokens, text, source messages and their
conversations."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.selectors.memory_search import FoundUnit, memory_search


def unit_data(found: FoundUnit) -> dict[str, Any]:
    unit = found.unit
    return {
        "number": unit.number,
        "kind": unit.kind,
        "tokens": unit.tokens,
        "score": unit.score,
        "text": unit.text,
        "ref_id": str(unit.ref_id),
        "message_ids": [str(message_id) for message_id in unit.message_ids],
        "conversation_ids": [str(conversation_id) for conversation_id in found.conversation_ids],
    }


class Command(BaseCommand):
    help = "Show the memory the chat would be given to answer a question, as numbered units."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="the username whose memory to search")
        parser.add_argument("--query", required=True, help="the question to search for")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print one JSON document"
        )

    def handle(self, *args: Any, user: str, query: str, as_json: bool, **options: Any) -> None:
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}.")
        try:
            found = memory_search(owner=owner, query=query)
        except ValidationError as error:
            raise CommandError(error.messages[0]) from error
        units = [unit_data(item) for item in found]
        tokens = sum(unit["tokens"] for unit in units)
        budget = settings.CHAT_MEMORY_TOKENS
        if as_json:
            document = {
                "user": user,
                "query": query.strip(),
                "budget": budget,
                "tokens": tokens,
                "units": units,
            }
            self.stdout.write(json.dumps(document, ensure_ascii=False, indent=2))
            return
        count = f"{len(units)} unit{'' if len(units) == 1 else 's'}"
        self.stdout.write(f"{count}, {tokens} of {budget} tokens, for {query.strip()!r}")
        for unit in units:
            self.stdout.write(f"\n[{unit['number']}] {unit['kind']}, {unit['tokens']} tokens")
            for line in unit["text"].splitlines():
                self.stdout.write(f"    {line}")
            self.stdout.write(f"    messages: {', '.join(unit['message_ids']) or '-'}")
            self.stdout.write(f"    conversations: {', '.join(unit['conversation_ids']) or '-'}")
