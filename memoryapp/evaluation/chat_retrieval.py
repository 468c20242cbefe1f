"""The chat's own retrieval and packing (`memoryapp.retrieval.retrieve_units`), as the
evaluation calls it, and its units turned into the turn ids they bring.

The function is looked up when a run starts, not imported at module load, so the evaluation
(and its baselines) works while retrieval is absent, and tests can replace it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast
from uuid import UUID

from django.contrib.auth.models import User

from memoryapp.evaluation.recall_metrics import RankedUnit
from memoryapp.models import Message

RETRIEVAL_MODULE = "memoryapp.retrieval"
RETRIEVAL_FUNCTION = "retrieve_units"


class ContextUnitLike(Protocol):
    """What the evaluation reads of `memoryapp.retrieval.ContextUnit`."""

    @property
    def text(self) -> str: ...

    @property
    def message_ids(self) -> tuple[UUID, ...]: ...

    @property
    def tokens(self) -> int: ...


class Retriever(Protocol):
    def __call__(
        self, *, owner: User, question: str, now: datetime, token_budget: int
    ) -> Sequence[ContextUnitLike]: ...


def chat_retriever() -> Retriever | None:
    """`memoryapp.retrieval.retrieve_units`, or None while it does not exist."""
    module = importlib.import_module(RETRIEVAL_MODULE)
    function = getattr(module, RETRIEVAL_FUNCTION, None)
    return cast(Retriever, function) if callable(function) else None


@dataclass(frozen=True)
class Retrieved:
    """One question's units in packed order, with the external ids of their messages."""

    units: list[ContextUnitLike]
    turn_ids: list[list[str]]  # per unit, in the unit's message order
    foreign_ids: int  # message ids that are not the owner's (must stay 0)

    def ranked(self) -> list[RankedUnit]:
        return [
            RankedUnit(frozenset(ids), unit.tokens)
            for unit, ids in zip(self.units, self.turn_ids, strict=True)
        ]


def retrieve(
    retriever: Retriever, *, owner: User, question: str, now: datetime, token_budget: int
) -> Retrieved:
    """Run the chat's retrieval and map its message ids to external ids (one query)."""
    units = list(retriever(owner=owner, question=question, now=now, token_budget=token_budget))
    wanted = {message_id for unit in units for message_id in unit.message_ids}
    external = dict(
        Message.objects.filter(owner=owner, pk__in=wanted).values_list("pk", "external_id")
    )
    turn_ids = [[external[m] for m in unit.message_ids if m in external] for unit in units]
    return Retrieved(units=units, turn_ids=turn_ids, foreign_ids=len(wanted - external.keys()))
