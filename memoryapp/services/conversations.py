"""Writes on conversations and messages from the person's side (web requests)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from memoryapp import jobs
from memoryapp.models import Conversation, Message
from memoryapp.selectors.answers import answer_can_continue
from memoryapp.services.answer_control import answer_stop_clear
from memoryapp.services.memory.forget import ForgetTarget, memory_forget
from memoryapp.services.memory.privacy import message_is_private

TITLE_MAX_CHARS = 200


def conversation_create(*, owner: User, incognito: bool = False) -> Conversation:
    """A new conversation; an incognito one is never remembered (`Message.private`)."""
    return Conversation.objects.create(owner=owner, incognito=incognito)


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    """A user-chosen title; suggested titles never replace it afterwards."""
    title = " ".join(title.split())[:TITLE_MAX_CHARS]
    if not title:
        raise ValidationError("A title cannot be empty.")
    conversation.title = title
    conversation.title_is_custom = True
    conversation.save(update_fields=["title", "title_is_custom"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    """Delete the conversation: forget it, with everything learned from it
    (`memory_forget`); answers still being written are stopped."""
    memory_forget(owner=conversation.owner, target=ForgetTarget("conversation", conversation.pk))


def validate_message_content(content: str) -> str:
    """The content to store, or a ValidationError saying what is wrong with it."""
    if not content.strip():
        raise ValidationError("Write a message first.")
    limit = settings.CHAT_MESSAGE_MAX_CHARS
    if len(content) > limit:
        raise ValidationError(
            f"This message has {len(content):,} characters; the limit is {limit:,}. "
            "Split it into several messages."
        )
    return content.strip("\n")


def _next_sequence(conversation: Conversation) -> int:
    last = conversation.messages.aggregate(last=Max("sequence"))["last"]
    return 0 if last is None else last + 1


@transaction.atomic
def message_send(*, conversation: Conversation, content: str) -> tuple[Message, Message]:
    """Store the user's message and a pending answer; queue the answer job on commit.

    While the broker is down the answer stays pending, and the stale-answer sweep queues it
    once the broker is back (`jobs.answer_enqueue`): the message is never refused for it.

    Both are private (kept out of memory) when the conversation is incognito or the owner's
    memory is paused (`services.memory.privacy`).

    Returns (question, answer). Raises ValidationError for empty or over-long content.
    """
    content = validate_message_content(content)
    # Serialises sequences, and waits for an incognito switch under way.
    Conversation.objects.select_for_update().get(pk=conversation.pk)
    now = timezone.now()
    owner = conversation.owner
    private = message_is_private(conversation_id=conversation.pk, owner_id=owner.pk)
    sequence = _next_sequence(conversation)
    question = Message.objects.create(
        conversation=conversation,
        owner=owner,
        role=Message.Role.USER,
        speaker=owner.get_username(),
        content=content,
        created_at=now,
        sequence=sequence,
        private=private,
    )
    answer = Message.objects.create(
        conversation=conversation,
        owner=owner,
        role=Message.Role.ASSISTANT,
        by_person=False,
        speaker="assistant",
        created_at=now,
        sequence=sequence + 1,
        status=Message.Status.PENDING,
        reply_to=question,
        in_flight_since=now,
        private=private,
    )
    conversation.updated_at = now
    conversation.save(update_fields=["updated_at"])
    _enqueue_answer(answer)
    return question, answer


def _enqueue_answer(answer: Message) -> None:
    answer_id = answer.pk
    transaction.on_commit(lambda: jobs.answer_enqueue(answer_id=answer_id))


@transaction.atomic
def answer_retry(*, answer: Message) -> Message:
    """Generate a failed or stopped answer again, in place."""
    if answer.role != Message.Role.ASSISTANT or not answer.is_finished:
        raise ValidationError("Only a finished answer can be retried.")
    answer.content = ""
    answer.finish_reason = ""
    return _answer_requeue(answer, also=("content", "finish_reason"))


@transaction.atomic
def answer_continue(*, answer: Message) -> Message:
    """Extend an answer cut at the token cap, in place: it goes back to pending with its text
    (and finish reason) kept, and the answer job writes the rest and appends it.

    Only the conversation's latest answer can be continued (`answer_can_continue`); raises
    ValidationError for any other.
    """
    # Locked like `message_send` does, so no message can be sent after it meanwhile.
    Conversation.objects.select_for_update().get(pk=answer.conversation_id)
    answer = Message.objects.select_for_update().get(pk=answer.pk, owner_id=answer.owner_id)
    if not answer_can_continue(answer=answer):
        raise ValidationError("Only the latest answer, cut at the token limit, can be continued.")
    return _answer_requeue(answer)


def _answer_requeue(answer: Message, *, also: tuple[str, ...] = ()) -> Message:
    """Send a finished answer back to pending and queue its job on commit, saving the reset
    fields and `also` (fields the caller changed)."""
    answer.error = ""
    answer.status = Message.Status.PENDING
    answer.attempts = 0
    answer.finished_at = None
    answer.in_flight_since = timezone.now()
    # The text will change: the upkeep (`embeddings_refresh`) embeds the new text once it is
    # finished, and the old text's vector is no longer this message's.
    answer.embedding_model = ""
    answer.save(
        update_fields=[
            *also,
            "error",
            "status",
            "attempts",
            "finished_at",
            "in_flight_since",
            "embedding_model",
        ]
    )
    answer_stop_clear(answer_id=answer.pk)
    _enqueue_answer(answer)
    return answer
