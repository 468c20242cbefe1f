"""Reading a ChatGPT data export: the .zip as downloaded or its conversations.json, each
conversation's current branch, and of it only what the person and the assistant said."""

from __future__ import annotations

import math
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pydantic
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from memoryapp.models import Message
from memoryapp.services.imports import ImportedConversation, ImportedMessage
from memoryapp.services.memory import export
from memoryapp.services.memory.import_files import (
    NOTHING_DONE,
    file_read,
    file_size_check,
    import_too_large,
    json_parse,
    looks_like_json,
    refusal,
    schema_problems,
)


class _GPT(pydantic.BaseModel):
    """The parts of a ChatGPT export read here (it has many more, ignored)."""

    model_config = pydantic.ConfigDict(extra="ignore", frozen=True)


class _GPTAuthor(_GPT):
    role: str


class _GPTContent(_GPT):
    content_type: str
    parts: list[Any] | None = None


class _GPTMessage(_GPT):
    id: str | None = None
    author: _GPTAuthor
    create_time: float | None = None
    content: _GPTContent
    metadata: dict[str, Any] | None = None
    recipient: str | None = None


class _GPTNode(_GPT):
    message: _GPTMessage | None = None
    parent: str | None = None


class _GPTConversation(_GPT):
    id: str | None = None
    conversation_id: str | None = None
    title: str | None = None
    create_time: float | None = None
    update_time: float | None = None
    mapping: dict[str, _GPTNode]
    current_node: str | None = None


_GPT_EXPORT = pydantic.TypeAdapter(list[_GPTConversation])
# Only these hold what a person or the assistant said; code, tool output, browsing, the
# model's hidden reasoning and custom instructions are other content types.
GPT_TEXT_TYPES = ("text", "multimodal_text")
GPT_ROLES = {"user": Message.Role.USER, "assistant": Message.Role.ASSISTANT}
ASSISTANT_SPEAKER = "assistant"


@dataclass(frozen=True)
class ChatGPTExport:
    """The conversations of a ChatGPT export worth importing, oldest first, and how many had
    no message to keep."""

    conversations: tuple[ImportedConversation, ...]
    empty: int


def _gpt_data(path: Path) -> bytes:
    """The bytes of conversations.json: the file itself, or the member of the .zip."""
    file_size_check(path)
    if not zipfile.is_zipfile(path):
        return file_read(path)
    try:
        with zipfile.ZipFile(path) as archive:
            found = [
                info
                for info in archive.infolist()
                if PurePosixPath(info.filename).name == "conversations.json" and not info.is_dir()
            ]
            if not found:
                raise ValidationError(
                    "The .zip has no conversations.json: is it the ChatGPT data export (Settings, "
                    f"Data controls, Export data)? {NOTHING_DONE}"
                )
            member = min(found, key=lambda info: info.filename.count("/"))
            if member.file_size > settings.IMPORT_MAX_BYTES:
                raise ValidationError(import_too_large(member.file_size))
            with archive.open(member) as handle:
                content = handle.read(settings.IMPORT_MAX_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ValidationError(f"The .zip cannot be read ({exc}). {NOTHING_DONE}") from exc
    if len(content) > settings.IMPORT_MAX_BYTES:
        raise ValidationError(import_too_large(len(content)))
    return content


def chatgpt_read(*, path: Path, speaker: str) -> ChatGPTExport:
    """Read a ChatGPT data export (the .zip as downloaded, or its conversations.json) whole,
    before anything is stored: each conversation's messages along its current branch (from
    `current_node` back to the root: edits and regenerations left behind are not read), the
    user's (spoken as `speaker`) and the assistant's text only, at their original times."""
    data = _gpt_data(path)
    if not looks_like_json(data):
        raise ValidationError(
            f"This is neither a ChatGPT .zip nor a conversations.json (it is not JSON). "
            f"{NOTHING_DONE}"
        )
    raw = json_parse(data, "conversations.json", "conversations")
    if isinstance(raw, dict):
        if raw.get("format") == export.FORMAT:
            raise ValidationError(
                "This is a memoryapp export, not a ChatGPT one: import it as “memoryapp "
                f"export”. {NOTHING_DONE}"
            )
        raise ValidationError(
            "This is not a ChatGPT conversations.json: it should be a list of conversations, "
            f"and it is a JSON object. {NOTHING_DONE}"
        )
    try:
        parsed = _GPT_EXPORT.validate_python(raw)
    except pydantic.ValidationError as exc:
        raise refusal(
            "This is not a ChatGPT conversations.json:", schema_problems(exc, "conversations")
        ) from exc
    conversations: dict[str, ImportedConversation] = {}
    empty = 0
    for index, conversation in enumerate(parsed):
        imported = _gpt_conversation(index, conversation, speaker)
        if not imported.messages:
            empty += 1
        elif imported.external_id not in conversations:  # a repeat changes nothing
            conversations[imported.external_id] = imported
    ordered = sorted(conversations.values(), key=lambda c: c.messages[0].created_at)
    return ChatGPTExport(conversations=tuple(ordered), empty=empty)


def _gpt_time(epoch: float | None) -> datetime | None:
    if epoch is None or not math.isfinite(epoch):
        return None
    try:
        return datetime.fromtimestamp(epoch, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _gpt_branch(index: int, conversation: _GPTConversation) -> list[_GPTMessage]:
    """The messages from the root to `current_node`, in order."""
    branch: list[_GPTMessage] = []
    seen: set[str] = set()
    node_id = conversation.current_node
    while node_id is not None:
        node = conversation.mapping.get(node_id)
        if node is None or node_id in seen:
            problem = "a cycle" if node_id in seen else "a node missing from its mapping"
            raise ValidationError(
                f"conversations[{index}] ({conversation.title or 'untitled'}): its current "
                f"branch has {problem} ({node_id}). {NOTHING_DONE}"
            )
        seen.add(node_id)
        if node.message is not None:
            branch.append(node.message)
        node_id = node.parent
    branch.reverse()
    return branch


def _gpt_text(message: _GPTMessage) -> str:
    """What the person or the assistant said in `message`; empty for everything else."""
    metadata = message.metadata or {}
    if (
        message.author.role not in GPT_ROLES
        or metadata.get("is_visually_hidden_from_conversation")
        or message.recipient not in (None, "all")  # the assistant calling a tool
        or message.content.content_type not in GPT_TEXT_TYPES
    ):
        return ""
    # Text parts are strings; images and other assets are objects, passed over.
    parts = [part for part in message.content.parts or [] if isinstance(part, str)]
    return "\n".join(part for part in parts if part.strip()).strip()


def _gpt_conversation(
    index: int, conversation: _GPTConversation, speaker: str
) -> ImportedConversation:
    external_id = conversation.conversation_id or conversation.id
    if not external_id or len(external_id) > 100:
        raise ValidationError(
            f"conversations[{index}] ({conversation.title or 'untitled'}) has "
            f"{'no id' if not external_id else 'an id longer than 100 characters'}. "
            f"{NOTHING_DONE}"
        )
    started = _gpt_time(conversation.create_time) or _gpt_time(conversation.update_time)
    messages: list[ImportedMessage] = []
    for message in _gpt_branch(index, conversation):
        text = _gpt_text(message)
        if not text:
            continue
        # No time of its own: the conversation's, or the turn's before it.
        said_at = _gpt_time(message.create_time) or started
        said_at = said_at or (messages[-1].created_at if messages else timezone.now())
        role = GPT_ROLES[message.author.role]
        model = (message.metadata or {}).get("model_slug")
        messages.append(
            ImportedMessage(
                role=role,
                speaker=speaker if role == Message.Role.USER else ASSISTANT_SPEAKER,
                content=text,
                created_at=said_at,
                external_id=(message.id or "")[:100],
                by_person=role == Message.Role.USER,
                model_name=model if isinstance(model, str) and role != Message.Role.USER else "",
            )
        )
    return ImportedConversation(
        title=(conversation.title or "").strip(),
        messages=tuple(messages),
        external_id=external_id,
    )
