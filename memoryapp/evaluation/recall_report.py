"""Recall per method and group of questions, and the tables that print it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from memoryapp.evaluation.recall_metrics import RankedUnit, Recall

OVERALL = "all"
# Two spaces: names hold single spaces ("BM25 turns", "1 multi-hop"), so columns stay apart.
SEPARATOR = "  "


@dataclass
class Scoreboard:
    """A `Recall` per (method, group), plus every method's overall row."""

    ks: tuple[int, ...]
    budgets: tuple[int, ...]
    methods: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    recalls: dict[tuple[str, str], Recall] = field(default_factory=dict)

    def add(
        self,
        method: str,
        group: str,
        units: Sequence[RankedUnit],
        evidence: frozenset[str],
        contexts: Mapping[int, Sequence[RankedUnit]] | None = None,
    ) -> None:
        """Score one question for `method`, in its group and overall (see `Recall.add`)."""
        if method not in self.methods:
            self.methods.append(method)
        if group not in self.groups:
            self.groups.append(group)
        for key in ((method, OVERALL), (method, group)):
            recall = self.recalls.setdefault(key, Recall(self.ks, self.budgets))
            recall.add(units, evidence, contexts)

    def rows(self) -> list[tuple[str, str, Recall]]:
        """(method, group, recall): each method's overall row, then its groups in sort order."""
        found = []
        for method in self.methods:
            for group in [OVERALL, *sorted(self.groups)]:
                recall = self.recalls.get((method, group))
                if recall is not None:
                    found.append((method, group, recall))
        return found


def recall_tables(board: Scoreboard) -> list[str]:
    """The "any" and "all" recall tables and the tokens packed, as text lines."""
    header = ["method", "group", "n"]
    header += [f"@{k}" for k in board.ks] + [f"{b}t" for b in board.budgets]
    lines: list[str] = []
    for kind, title in (
        ("any", 'evidence recall "any" (at least one evidence turn in the context)'),
        ("all", 'evidence recall "all" (every evidence turn in the context)'),
    ):
        rows = [_recall_row(method, group, recall, kind) for method, group, recall in board.rows()]
        lines += ["", title, *table(header, rows)]
    token_rows = [
        [method, f"{recall.questions}", *(f"{recall.mean_tokens(b):.0f}" for b in board.budgets)]
        for method, group, recall in board.rows()
        if group == OVERALL
    ]
    token_header = ["method", "n", *(f"{b}t" for b in board.budgets)]
    lines += ["", "average tokens packed per budget", *table(token_header, token_rows, left=1)]
    return lines


def _recall_row(method: str, group: str, recall: Recall, kind: str) -> list[str]:
    at_k = recall.any_at_k if kind == "any" else recall.all_at_k
    in_budget = recall.any_in_budget if kind == "any" else recall.all_in_budget
    return [
        method,
        group,
        str(recall.questions),
        *(f"{recall.rate(at_k, k):.3f}" for k in recall.ks),
        *(f"{recall.rate(in_budget, b):.3f}" for b in recall.budgets),
    ]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 2) -> list[str]:
    """An aligned text table: the first `left` columns left-aligned, the others (numbers)
    right-aligned."""
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def render(line: Sequence[str]) -> str:
        cells = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return SEPARATOR.join(cells).rstrip()

    return [render(header), SEPARATOR.join("-" * width for width in widths), *map(render, rows)]
