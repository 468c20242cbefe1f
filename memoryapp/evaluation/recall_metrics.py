"""Evidence recall of a ranked list of context units, at k units and under token budgets.

A unit (a memory unit, or one turn for the baselines) brings the ids of the turns it holds and
costs `tokens` (counted with `count_tokens`, the regex the chat's packer uses). For a question
with evidence turns E and a context made of some units:

- "any" is 1 when at least one evidence turn is in the context, else 0;
- "all" is 1 when every evidence turn is.

At k: the context is the first k units. Under a budget of B tokens: what the packer itself
chose when asked for B tokens, when it was asked once per budget (the chat's retrieval: its
units shrink to fit what is left); otherwise units are taken in order, each one that still
fits is added and one that does not is skipped (a greedy fill; the turn baselines). The
tokens packed are the sum of the units taken. Scores are averaged over questions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar


class Costed(Protocol):
    @property
    def tokens(self) -> int: ...


U = TypeVar("U", bound=Costed)


@dataclass(frozen=True)
class RankedUnit:
    turn_ids: frozenset[str]
    tokens: int


@dataclass(frozen=True)
class Hit:
    any: bool
    all: bool


def hit(units: Iterable[RankedUnit], evidence: frozenset[str]) -> Hit:
    """Whether the units hold any / all of the evidence turns."""
    found: set[str] = set()
    for unit in units:
        found |= unit.turn_ids & evidence
    return Hit(any=bool(found), all=bool(evidence) and found == evidence)


def packed(units: Sequence[U], budget: int) -> list[U]:
    """The units a greedy fill of `budget` tokens takes, in order."""
    taken: list[U] = []
    used = 0
    for unit in units:
        if used + unit.tokens <= budget:
            taken.append(unit)
            used += unit.tokens
    return taken


@dataclass
class Recall:
    """Sums over the questions scored so far, for one method and one group of questions."""

    ks: tuple[int, ...]
    budgets: tuple[int, ...]
    questions: int = 0
    any_at_k: dict[int, int] = field(default_factory=dict)
    all_at_k: dict[int, int] = field(default_factory=dict)
    any_in_budget: dict[int, int] = field(default_factory=dict)
    all_in_budget: dict[int, int] = field(default_factory=dict)
    tokens_in_budget: dict[int, int] = field(default_factory=dict)

    def add(
        self,
        units: Sequence[RankedUnit],
        evidence: frozenset[str],
        contexts: Mapping[int, Sequence[RankedUnit]] | None = None,
    ) -> None:
        """Score one question's ranked units. `contexts` are what a packer chose for each
        budget, when it was asked once per budget; without them, `packed(units, budget)`."""
        self.questions += 1
        for k in self.ks:
            _count(self.any_at_k, self.all_at_k, k, hit(units[:k], evidence))
        for budget in self.budgets:
            context = contexts[budget] if contexts is not None else packed(units, budget)
            _count(self.any_in_budget, self.all_in_budget, budget, hit(context, evidence))
            self.tokens_in_budget[budget] = self.tokens_in_budget.get(budget, 0) + sum(
                unit.tokens for unit in context
            )

    def rate(self, counts: dict[int, int], key: int) -> float:
        return counts.get(key, 0) / self.questions if self.questions else 0.0

    def mean_tokens(self, budget: int) -> float:
        return self.tokens_in_budget.get(budget, 0) / self.questions if self.questions else 0.0


def _count(any_counts: dict[int, int], all_counts: dict[int, int], key: int, found: Hit) -> None:
    any_counts[key] = any_counts.get(key, 0) + found.any
    all_counts[key] = all_counts.get(key, 0) + found.all
