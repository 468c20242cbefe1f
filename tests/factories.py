"""Small builders for test data (plain functions: the models are few and simple)."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from memoryapp.models import Citation, Conversation, Message, Segment

_counter = itertools.count()


def user(name: str | None = None, **extra: Any) -> User:
    username = name or f"user{next(_counter)}"
    return User.objects.create_user(username=username, password="a-long-password-1", **extra)


def conversation(owner: User, title: str = "") -> Conversation:
    return Conversation.objects.create(owner=owner, title=title)


def message(
    conversation: Conversation,
    content: str,
    *,
    role: str = Message.Role.USER,
    status: str = Message.Status.DONE,
    **extra: object,
) -> Message:
    """A message; an assistant's is the assistant's words (`by_person` false) unless `extra`
    says otherwise (an imported transcript of two people)."""
    last = conversation.messages.order_by("-sequence").first()
    extra.setdefault("by_person", role == Message.Role.USER)
    return Message.objects.create(
        conversation=conversation,
        owner=conversation.owner,
        role=role,
        content=content,
        status=status,
        sequence=0 if last is None else last.sequence + 1,
        **extra,
    )


def exchange(
    conversation: Conversation, question: str, answer: str, **answer_fields: Any
) -> tuple[Message, Message]:
    """The person's `question` and the assistant's `answer` to it (finished unless
    `answer_fields` say otherwise)."""
    asked = message(conversation, question)
    return asked, message(
        conversation, answer, role=Message.Role.ASSISTANT, reply_to=asked, **answer_fields
    )


def citation(answer: Message, number: int, message_ids: list[Any], **extra: Any) -> Citation:
    """Unit `number` of the memory `answer` was given, over `message_ids`: a segment ranked
    by its number, unless `extra` says otherwise."""
    extra.setdefault("owner_id", answer.owner_id)
    extra.setdefault("kind", "segment")
    extra.setdefault("rank", number)
    extra.setdefault("score", 1.0)
    return Citation.objects.create(answer=answer, number=number, message_ids=message_ids, **extra)


def closed_segment(conversation: Conversation, messages: list[Message]) -> Segment:
    """A closed segment over `messages` (already stored, consecutive), pending consolidation."""
    segment = Segment.objects.create(
        owner=conversation.owner,
        conversation=conversation,
        status=Segment.Status.CLOSED,
        closed_at=timezone.now(),
        first_sequence=messages[0].sequence,
        last_sequence=messages[-1].sequence,
        start_at=min(m.created_at for m in messages),
        end_at=max(m.created_at for m in messages),
        message_count=len(messages),
    )
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(segment=segment)
    return segment
