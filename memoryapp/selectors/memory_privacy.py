"""What the chat header and the Memory page say about privacy: whether the person paused
memory, and whether a conversation is incognito, has memory to forget, or has messages kept
out of memory."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User

from memoryapp.models import Conversation, Message
from memoryapp.models.conversation import FOR_MEMORY
from memoryapp.services.memory.privacy import memory_paused


@dataclass(frozen=True)
class PrivacyState:
    memory_paused: bool
    incognito: bool = False
    # The conversation has messages memory is built from (or soon will be): switching
    # incognito on forgets what was learned from them.
    remembered: bool = False
    # Some of its messages are kept out of memory (said while it was incognito or memory
    # was paused), also after the switch is off again.
    has_private: bool = False


def privacy_state(*, owner: User, conversation: Conversation | None = None) -> PrivacyState:
    """The owner's pause, and the state of `conversation` (theirs) if given."""
    paused = memory_paused(owner=owner)
    if conversation is None or conversation.owner_id != owner.pk:
        return PrivacyState(memory_paused=paused)
    messages = Message.objects.filter(conversation=conversation, owner_id=owner.pk)
    return PrivacyState(
        memory_paused=paused,
        incognito=conversation.incognito,
        remembered=messages.filter(FOR_MEMORY).exists(),
        has_private=messages.filter(private=True).exists(),
    )
