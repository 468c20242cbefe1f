"""Reading a file to import, and saying what is wrong with it: the checks every import makes
before it stores anything (`memoryapp.services.memory.importing`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pydantic
from django.conf import settings
from django.core.exceptions import ValidationError

# Every refusal ends with it: the import changed nothing.
NOTHING_DONE = "Nothing was imported."
# At most this many problems of a file are named in one refusal.
PROBLEMS_SHOWN = 5


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


def import_too_large(size: int) -> str:
    """The refusal of a file of `size` bytes, over IMPORT_MAX_BYTES."""
    return (
        f"The file is {_megabytes(size)}; the largest import accepted is "
        f"{_megabytes(settings.IMPORT_MAX_BYTES)} (IMPORT_MAX_BYTES). {NOTHING_DONE}"
    )


def file_size_check(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValidationError(f"Cannot read {path.name}: {exc.strerror}. {NOTHING_DONE}") from exc
    if size > settings.IMPORT_MAX_BYTES:
        raise ValidationError(import_too_large(size))


def file_read(path: Path) -> bytes:
    """The file's bytes, unless it is over IMPORT_MAX_BYTES."""
    file_size_check(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"Cannot read {path.name}: {exc.strerror}. {NOTHING_DONE}") from exc


def json_parse(data: bytes, what: str, root: str = "") -> Any:
    """`data` parsed, or a refusal saying where the JSON breaks (at the end: truncated), that
    it nests too deeply, or where it holds a NUL character, which no text in Postgres can
    (`root`: the name of the whole, for that place)."""
    try:
        parsed = json.loads(data)
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{what} is not UTF-8 text. {NOTHING_DONE}") from exc
    except json.JSONDecodeError as exc:
        why = "it ends too early: is the file truncated?" if _truncated(exc) else exc.msg
        raise ValidationError(
            f"{what} is not valid JSON ({why}; line {exc.lineno}, column {exc.colno}). "
            f"{NOTHING_DONE}"
        ) from exc
    except RecursionError as exc:
        raise ValidationError(f"{what} is JSON nested too deeply. {NOTHING_DONE}") from exc
    nul = _nul_at(parsed) if b"\\u0000" in data else None
    if nul is not None:
        raise ValidationError(
            f"{what} holds a NUL character (\\u0000) at {_where(root, nul)}, which cannot be "
            f"stored. {NOTHING_DONE}"
        )
    return parsed


def _nul_at(value: Any) -> list[str | int] | None:
    """Where a string (or a key) of the parsed JSON holds a NUL character, if one does."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, loc = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return loc
        if isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return [*loc, key]
                stack.append((child, [*loc, key]))
        elif isinstance(item, list):
            stack.extend((child, [*loc, index]) for index, child in enumerate(item))
    return None


def _where(root: str, loc: Sequence[str | int]) -> str:
    """A place in a JSON document as `root.key[0].key`."""
    where = root
    for part in loc:
        if isinstance(part, int):
            where += f"[{part}]"
        else:
            where += f".{part}" if where else str(part)
    return where or "the document"


def _truncated(error: json.JSONDecodeError) -> bool:
    """Whether the JSON broke because it ended: at its end, inside a string (the error is
    where the string starts) or inside a literal (true, false, null)."""
    rest = error.doc[error.pos :].rstrip()
    return (
        not rest
        or error.msg.startswith("Unterminated string")
        or any(literal.startswith(rest) for literal in ("true", "false", "null"))
    )


def looks_like_json(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{")


def schema_problems(error: pydantic.ValidationError, root: str = "") -> list[str]:
    """pydantic's errors as "where: what" lines (`root`: the name of the whole)."""
    found = []
    for problem in error.errors(include_url=False):
        found.append(f"{_where(root, problem['loc'])}: {problem['msg']}")
    return found


def refusal(intro: str, problems: Sequence[str]) -> ValidationError:
    shown = list(problems[:PROBLEMS_SHOWN])
    if len(problems) > PROBLEMS_SHOWN:
        shown.append(f"and {len(problems) - PROBLEMS_SHOWN} more")
    return ValidationError(f"{intro} {'; '.join(shown)}. {NOTHING_DONE}")
