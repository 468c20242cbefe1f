"""Telling waiting answers' tabs where they stand in the chat queue.

A pending answer's bubble says how many answers are ahead of it (`answer_waiting_ahead`). A
claim does not change that count for the others (an answer moves from waiting to being
written), a finished one does: then each conversation with an answer still waiting gets one
fragment with the new counts, sent to its own tabs only, and saying nothing of whose answers
are ahead.
"""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

from django.template.loader import render_to_string

from memoryapp.models import Message
from memoryapp.selectors.answers import Waiting, answers_waiting
from memoryapp.services.notifications import conversation_notify

WAITING_NOTE = "chat/conversation.html#waiting"


def answers_waiting_notify() -> None:
    """Send every waiting answer's new place to the tabs of its conversation."""
    by_conversation: dict[UUID, list[Waiting]] = defaultdict(list)
    for waiting in answers_waiting():
        by_conversation[waiting.conversation_id].append(waiting)
    for conversation_id, answers in by_conversation.items():
        html = "".join(
            render_to_string(
                WAITING_NOTE,
                {"message": {"pk": w.answer_id}, "ahead": w.ahead, "waiting_oob": True},
            )
            for w in answers
        )
        conversation_notify(conversation_id=conversation_id, html=html)


def answer_waiting_end(*, answer: Message) -> None:
    """Remove the waiting note of an answer a worker has taken from its tabs."""
    conversation_notify(
        conversation_id=answer.conversation_id,
        html=f'<p id="waiting-{answer.pk}" hx-swap-oob="delete"></p>',
    )
