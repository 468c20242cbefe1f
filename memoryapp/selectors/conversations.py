"""Reads of conversations and messages, always scoped to their owner."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.postgres.search import SearchQuery
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from memoryapp.models import Conversation, Message
from memoryapp.models.conversation import REMEMBERED, SEARCH_CONFIG

User = AbstractBaseUser | AnonymousUser


def conversation_list(*, owner: User, query: str = "") -> QuerySet[Conversation]:
    """The owner's conversations, newest activity first; with `query`, those whose title or
    any message matches it (Postgres full text, web-search syntax)."""
    conversations = Conversation.objects.filter(owner_id=owner.pk)
    query = query.strip()
    if query:
        search = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        matching_messages = Message.objects.filter(
            conversation=OuterRef("pk"), owner_id=owner.pk, search_vector=search
        )
        conversations = conversations.filter(
            Q(search_vector=search) | Q(Exists(matching_messages)) | Q(title__icontains=query)
        )
    return conversations.order_by("-updated_at")


def conversation_get(*, owner: User, conversation_id: UUID) -> Conversation:
    """The owner's conversation, or 404 (also for another user's id: no existence leak)."""
    return get_object_or_404(Conversation, pk=conversation_id, owner_id=owner.pk)


def conversation_exists_for(*, owner: User, conversation_id: UUID) -> bool:
    return Conversation.objects.filter(pk=conversation_id, owner_id=owner.pk).exists()


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    return Message.objects.filter(
        conversation=conversation, owner_id=conversation.owner_id
    ).order_by("sequence")


def message_get(*, owner: User, message_id: UUID) -> Message:
    return get_object_or_404(
        Message.objects.select_related("conversation"), pk=message_id, owner_id=owner.pk
    )


def recent_turns(*, answer: Message, limit: int = 50) -> list[Message]:
    """The remembered messages before `answer` in its conversation, oldest first (a failed
    answer's partial text is not something the assistant said)."""
    turns = Message.objects.filter(
        REMEMBERED,
        conversation_id=answer.conversation_id,
        owner_id=answer.owner_id,
        sequence__lt=answer.sequence,
    ).order_by("-sequence")[:limit]
    return list(reversed(turns))
