"""Reads about answers: which one can be continued."""

from __future__ import annotations

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
