"""Incognito conversations and paused memory: messages kept as chat history, and as their
conversation's own context, but out of memory (`Message.private`, `FOR_MEMORY`).

A message is private when it is stored in an incognito conversation or while its owner's
memory is paused. Only ever set, never cleared: switching incognito off or resuming memory
lets new messages in, while what was said meanwhile stays out.
"""

from __future__ import annotations

import contextlib
from uuid import UUID

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from memoryapp.models import Conversation, MemberSettings, Message
from memoryapp.models.conversation import FOR_MEMORY
from memoryapp.services.memory.forget import conversation_memory_forget
from memoryapp.services.memory.ingestion import ingestion_lock
from memoryapp.services.memory.locks import owner_lock


def memory_paused(*, owner: User) -> bool:
    """Whether the person paused memory (a missing settings row means it is not)."""
    return MemberSettings.objects.filter(user_id=owner.pk, memory_paused=True).exists()


def memory_pause_set(*, owner: User, paused: bool) -> MemberSettings:
    """Pause or resume the person's memory. While paused, every new message of theirs, in
    any conversation, is stored private; resuming changes no message already stored."""
    row, _ = MemberSettings.objects.update_or_create(
        user=owner, defaults={"memory_paused": paused, "updated_at": timezone.now()}
    )
    return row


def message_is_private(*, conversation_id: UUID, owner_id: int) -> bool:
    """Whether a message stored now in the conversation stays out of memory: the conversation
    is incognito, or its owner paused memory (read now, not from a loaded instance)."""
    return (
        Conversation.objects.filter(pk=conversation_id, owner_id=owner_id, incognito=True).exists()
        or MemberSettings.objects.filter(user_id=owner_id, memory_paused=True).exists()
    )


def conversation_incognito_set(*, conversation: Conversation, incognito: bool) -> Conversation:
    """Switch "don't remember this conversation". On: every message of it becomes private and
    everything learned from it is forgotten (`conversation_memory_forget`), in one transaction;
    so is any message sent while it is on. Off: new messages enter memory again, earlier ones
    stay private. Setting the state it already has changes nothing.

    Switching on takes, in the order the memory jobs take them, the owner's memory lock (it
    waits for a consolidation under way, a while: then MemoryBusy), the conversation's row (a
    message sent meanwhile waits, then sees the switch) and its ingestion lock (a run that
    read the messages before they became private finds its plan out of date).
    """
    owner_id = conversation.owner_id
    memory_lock = (
        owner_lock(owner_id, busy="the conversation was left as it was")
        if incognito
        else contextlib.nullcontext()
    )
    with memory_lock, transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk, owner_id=owner_id)
        if locked.incognito != incognito:
            locked.incognito = incognito
            locked.save(update_fields=["incognito"])
            if incognito:
                ingestion_lock(conversation_id=locked.pk)
                messages = Message.objects.filter(conversation=locked, owner_id=owner_id)
                learned_from = messages.filter(FOR_MEMORY).exists()
                messages.filter(private=False).update(private=True)
                if learned_from:  # else there is nothing to forget, nor to journal
                    conversation_memory_forget(conversation=locked)
    conversation.incognito = incognito
    return conversation
