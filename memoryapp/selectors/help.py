"""Help pages rendered from the README, so the app and the docs never disagree."""

from __future__ import annotations

from django.conf import settings
from django.utils.safestring import SafeString

from memoryapp.rendering import render_markdown


def _heading_level(line: str) -> int:
    """The level of a Markdown ATX heading (`## Title` is 2), 0 for any other line."""
    marks = len(line) - len(line.lstrip("#"))
    return marks if marks and line[marks : marks + 1] == " " else 0


def _outside_code_blocks(lines: list[str]) -> list[bool]:
    """For each line, whether it is outside a fenced code block (where `#` is a comment)."""
    outside, in_fence = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            outside.append(False)
        else:
            outside.append(not in_fence)
    return outside


def readme_section(heading: str) -> SafeString:
    """The README's section under `heading` (any level), rendered; empty if it is missing."""
    try:
        lines = (settings.BASE_DIR / "README.md").read_text().splitlines()
    except OSError:
        return SafeString("")
    prose = _outside_code_blocks(lines)
    headings = [(i, _heading_level(line)) for i, line in enumerate(lines) if prose[i]]
    for position, (start, level) in enumerate(headings):
        if level and lines[start].lstrip("#").strip() == heading:
            end = next(
                (i for i, other in headings[position + 1 :] if other and other <= level),
                len(lines),
            )
            return render_markdown("\n".join(lines[start + 1 : end]))
    return SafeString("")
