"""Suggested conversation titles, after the first exchange."""

from __future__ import annotations

import logging
import re

from django.template.loader import render_to_string

from memoryapp.llm import LLM, LLMError
from memoryapp.llm.prompting import render_prompt
from memoryapp.models import Conversation, Message
from memoryapp.services.notifications import user_notify

logger = logging.getLogger(__name__)

TITLE_MAX_WORDS = 8
TITLE_MAX_CHARS = 80
TITLE_TIMEOUT_SECONDS = 20.0


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


def _suggest(llm: LLM, question: str, answer: str) -> str:
    prompt = render_prompt(
        "conversation_title.txt", {"question": question[:1000], "answer": answer[:500]}
    )
    try:
        reply = llm.complete(
            [{"role": "user", "content": prompt}],
            max_tokens=16,
            timeout=TITLE_TIMEOUT_SECONDS,
            temperature=0.2,
        )
    except LLMError as exc:
        logger.info("no title suggested: %s", exc)
        return ""
    return clean_title(reply.text)


def conversation_title_suggest(*, conversation: Conversation, llm: LLM) -> Conversation:
    """Give an untitled conversation a title from its first exchange and update the sidebar."""
    conversation.refresh_from_db(fields=["title", "title_is_custom"])
    if conversation.title or conversation.title_is_custom:
        return conversation
    first = list(
        Message.objects.filter(conversation=conversation, owner_id=conversation.owner_id)
        .exclude(content="")
        .order_by("sequence")[:2]
    )
    if not first:
        return conversation
    question = first[0].content
    answer = first[1].content if len(first) > 1 else ""
    title = _suggest(llm, question, answer) or title_from_text(question)
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
