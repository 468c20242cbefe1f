"""Reads about answers: which one can be continued, and how many wait ahead of one."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db.models import Q

from memoryapp.models import Message

# `Message.finish_reason` of an answer that reached the token cap: its text is cut.
CUT = "length"


def answer_can_continue(*, answer: Message) -> bool:
    """A finished answer cut at the token cap that is still the latest message of its
    conversation. Finished includes a continuation stopped before it started (stopped) or
    interrupted too often (failed): both keep the cut text and its finish reason."""
    if answer.role != Message.Role.ASSISTANT or answer.finish_reason != CUT:
        return False
    if not answer.is_finished or not answer.content:
        return False
    return not Message.objects.filter(
        conversation_id=answer.conversation_id,
        owner_id=answer.owner_id,
        sequence__gt=answer.sequence,
    ).exists()


@dataclass(frozen=True)
class Waiting:
    """A pending answer and how many answers the chat workers will take before it."""

    answer_id: UUID
    conversation_id: UUID
    ahead: int


# The chat queue is first in, first out: answers are taken in the order they were queued
# (`in_flight_since` of a pending answer), ties broken the same way everywhere.
QUEUE_ORDER = ("in_flight_since", "pk")


def _answers(status: Message.Status) -> Q:
    return Q(role=Message.Role.ASSISTANT, status=status)


def answers_waiting() -> list[Waiting]:
    """Every pending answer, in the order the chat workers will take them, with how many are
    ahead of it: the answers being written now and the pending ones queued before it.

    Across all users, as counts: the result names answers and conversations only, for the
    notices each conversation's own tabs receive.
    """
    streaming = Message.objects.filter(_answers(Message.Status.STREAMING)).count()
    pending = (
        Message.objects.filter(_answers(Message.Status.PENDING))
        .order_by(*QUEUE_ORDER)
        .values_list("pk", "conversation_id")
    )
    return [
        Waiting(answer_id=pk, conversation_id=conversation_id, ahead=streaming + place)
        for place, (pk, conversation_id) in enumerate(pending)
    ]


def answer_waiting_ahead(*, answer: Message) -> int:
    """How many answers are ahead of `answer` if it is pending (see `answers_waiting`), of
    every user, as a count; 0 for any other message."""
    if (
        answer.role != Message.Role.ASSISTANT
        or answer.status != Message.Status.PENDING
        or answer.in_flight_since is None
    ):
        return 0
    queued_before = Q(in_flight_since__lt=answer.in_flight_since) | Q(
        in_flight_since=answer.in_flight_since, pk__lt=answer.pk
    )
    return Message.objects.filter(
        _answers(Message.Status.STREAMING) | (_answers(Message.Status.PENDING) & queued_before)
    ).count()
