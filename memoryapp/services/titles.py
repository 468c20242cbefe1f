"""Suggested conversation titles, after the first exchange.

Suggested by the memory worker once the first answer is saved (`memory.suggest_title`),
never inside the answer job: the next answer must not wait for a title. The model is asked
only when the chat worker is idle, for the same reason.
"""

from __future__ import annotations

import logging
import re
from uuid import UUID

from django.template.loader import render_to_string

from memoryapp.llm import LLM, LLMError, get_llm
from memoryapp.llm.prompting import prompt_within, render_prompt
from memoryapp.models import Conversation, Message
from memoryapp.models.conversation import REMEMBERED
from memoryapp.services.memory.model_access import chat_idle_wait
from memoryapp.services.notifications import user_notify

logger = logging.getLogger(__name__)

TITLE_MAX_WORDS = 8
TITLE_MAX_CHARS = 80
TITLE_TIMEOUT_SECONDS = 20.0
TITLE_MAX_TOKENS = 16
# A title is made from the start of the first message: no more of it is shown.
TITLE_QUESTION_TOKENS = 300


def clean_title(raw: str) -> str:
    """The first line of a model's reply, without quotes, labels or trailing punctuation."""
    line = next((line for line in raw.splitlines() if line.strip()), "")
    line = re.sub(r"^\s*(title\s*:)\s*", "", line, flags=re.IGNORECASE)
    line = line.strip().strip("\"'*#`“”").strip().rstrip(".:;,")
    words = line.split()
    return " ".join(words[:TITLE_MAX_WORDS])[:TITLE_MAX_CHARS]


def title_from_text(text: str) -> str:
    """A fallback title: the first words of the user's message."""
    words = text.split()
    title = " ".join(words[:TITLE_MAX_WORDS])
    if len(words) > TITLE_MAX_WORDS:
        title += "…"
    return title[:TITLE_MAX_CHARS]


def _suggest(llm: LLM, question: str) -> str:
    try:
        prompt = prompt_within(
            llm,
            [question],
            render=lambda shown: render_prompt(
                "conversation_title.txt", {"question": "".join(text for _, text in shown)}
            ),
            max_tokens=TITLE_MAX_TOKENS,
            limit=TITLE_QUESTION_TOKENS,
        )
        reply = llm.complete(
            [{"role": "user", "content": prompt.text}],
            max_tokens=TITLE_MAX_TOKENS,
            timeout=TITLE_TIMEOUT_SECONDS,
            temperature=0.2,
        )
    except LLMError as exc:
        logger.info("no title suggested: %s", exc)
        return ""
    return clean_title(reply.text)


def title_source(*, conversation_id: UUID, owner_id: int) -> Message | None:
    """The message a suggested title is made from: the person's first remembered one. Their
    words, private ones too: a title is chat history (the sidebar's), not memory, and an
    incognito conversation is named like any other."""
    return (
        Message.objects.filter(
            REMEMBERED, by_person=True, conversation_id=conversation_id, owner_id=owner_id
        )
        .order_by("sequence")
        .first()
    )


def conversation_title_due(*, conversation_id: UUID) -> bool:
    """Whether the conversation still has the default title: none of its own, none suggested
    (the person's own title is never replaced)."""
    return Conversation.objects.filter(pk=conversation_id, title="", title_is_custom=False).exists()


def conversation_title_suggest(
    *, conversation: Conversation, llm: LLM | None = None
) -> Conversation:
    """Give an untitled conversation a title from the person's first message (never from the
    assistant's answer, whose inventions are not the person's words) and update the sidebar.

    Waits (up to MEMORY_YIELD_MAX_SECONDS) while the chat worker is answering. Without a
    usable model reply the first words of the question are the title.
    """
    conversation.refresh_from_db(fields=["title", "title_is_custom"])
    if conversation.title or conversation.title_is_custom:
        return conversation
    first = title_source(conversation_id=conversation.pk, owner_id=conversation.owner_id)
    if first is None:
        return conversation
    chat_idle_wait()
    title = _suggest(llm or get_llm(), first.content) or title_from_text(first.content)
    updated = Conversation.objects.filter(pk=conversation.pk, title="", title_is_custom=False)
    if updated.update(title=title):
        conversation.title = title
        user_notify(
            user_id=conversation.owner_id,
            html=render_to_string(
                "chat/conversation.html#conversation_title_oob", {"conversation": conversation}
            ),
        )
    return conversation
