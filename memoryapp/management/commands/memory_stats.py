"""Prints, per person: messages, segments, facts, failed jobs and the LLM cost of memory."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from memoryapp.selectors.stats import memory_stats

COLUMNS = (
    ("user", 16), ("messages", 9), ("segments", 9), ("open", 5), ("consolidated", 13),
    ("failed", 7), ("facts", 6), ("superseded", 11), ("llm calls/100 msg", 18),
    ("tokens/100 msg", 15),
)  # fmt: skip


class Command(BaseCommand):
    help = "Memory statistics per user, with LLM calls and tokens spent per 100 messages."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("".join(name.rjust(width) for name, width in COLUMNS))
        for row in memory_stats():
            values = (
                row.username, row.messages, row.segments, row.open_segments, row.consolidated,
                row.failed_jobs, row.active_facts, row.superseded_facts,
                f"{row.per_100_messages(row.llm_calls):.1f}",
                f"{row.per_100_messages(row.tokens):.0f}",
            )  # fmt: skip
            self.stdout.write(
                "".join(
                    str(v)[:width].rjust(width)
                    for v, (_, width) in zip(values, COLUMNS, strict=True)
                )
            )
