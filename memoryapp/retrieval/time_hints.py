"""Time references in a question ("last May", "in 2023", "two weeks ago", "last spring"),
resolved against the current time into the period they name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dateparser.search import search_dates

MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
SEASONS = {
    "spring": (3, 5),
    "summer": (6, 8),
    "autumn": (9, 11),
    "fall": (9, 11),
    "winter": (12, 2),
}
_SEASON = re.compile(r"\b(last|this|past)\s+(spring|summer|autumn|fall|winter)\b", re.IGNORECASE)
_MONTH = re.compile(
    r"\b(last|in|this|during|of)\s+(" + "|".join(MONTHS) + r")(?:\s+((?:19|20)\d\d))?\b",
    re.IGNORECASE,
)
_YEAR_ONLY = re.compile(r"^(?:in\s+)?(19|20)\d\d$")
_RELATIVE = re.compile(r"\b(ago|yesterday|today|last|this|past|week|weekend)\b", re.IGNORECASE)
# "Did"/"used to"/"before": the question asks about the past, where superseded facts belong.
_PAST = re.compile(
    r"\b(used to|previously|before|formerly|former|earlier|ago|did|was|were|had|"
    r"last (?:year|month|week|spring|summer|autumn|fall|winter))\b",
    re.IGNORECASE,
)


def dateparser_settings(relative_to: datetime) -> dict[str, Any]:
    """dateparser settings for expressions said at `relative_to`: past dates preferred, a
    month alone means its first day, results aware and in UTC."""
    return {
        "RELATIVE_BASE": relative_to.astimezone(UTC).replace(tzinfo=None),
        "PREFER_DATES_FROM": "past",
        "PREFER_DAY_OF_MONTH": "first",
        "RETURN_AS_TIMEZONE_AWARE": True,
        "TIMEZONE": "UTC",
        "TO_TIMEZONE": "UTC",
    }


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def overlaps(self, start: datetime | None, end: datetime | None) -> bool:
        if start is None:
            return False
        return start < self.end and (end or start) >= self.start


def asks_about_the_past(question: str) -> bool:
    return bool(_PAST.search(question))


def _season(question: str, now: datetime) -> Period | None:
    """ "last spring": the latest spring that has ended; "this summer": the one of this year."""
    match = _SEASON.search(question)
    if not match:
        return None
    first, last = SEASONS[match.group(2).lower()]
    for year in (now.year, now.year - 1, now.year - 2):
        start = datetime(year, first, 1, tzinfo=UTC)
        end = _month_end(datetime(year + (1 if last < first else 0), last, 1, tzinfo=UTC))
        if match.group(1).lower() == "this" and start <= now:
            return Period(start, end)
        if end <= now:
            return Period(start, end)
    return None


def _named_month(question: str, now: datetime) -> Period | None:
    """ "last May", "in March": the latest such month that has begun (dateparser misses them)."""
    match = next((m for m in _MONTH.finditer(question) if not _is_the_verb_may(m)), None)
    if not match:
        return None
    month = MONTHS.index(match.group(2).lower()) + 1
    if match.group(3):
        year = int(match.group(3))
    else:
        year = (
            now.year
            if month < now.month or (month == now.month and match.group(1).lower() != "last")
            else now.year - 1
        )
    start = datetime(year, month, 1, tzinfo=UTC)
    return Period(start, _month_end(start))


def _is_the_verb_may(match: re.Match[str]) -> bool:
    """ "this may be": "may" in lower case with a word after it is the verb, not the month."""
    if match.group(2) != "may" or match.group(3):
        return False
    return bool(re.match(r"\s+[a-z]", match.string[match.end() :]))


def _month_end(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def _granular(text: str, moment: datetime) -> Period:
    """The period a matched expression names: a year, a month, a week or a day."""
    lowered = text.lower().strip()
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if _YEAR_ONLY.match(lowered):
        return Period(
            datetime(day.year, 1, 1, tzinfo=UTC), datetime(day.year + 1, 1, 1, tzinfo=UTC)
        )
    words = set(re.findall(r"[a-z]+", lowered))
    has_month = any(month in words or month[:3] in words for month in MONTHS)
    has_day_number = bool(
        re.search(r"\b\d{1,2}(st|nd|rd|th)?\b", lowered.replace(str(day.year), ""))
    )
    if has_month and not has_day_number:
        start = day.replace(day=1)
        return Period(start, _month_end(start))
    if "week" in lowered:
        return Period(day - timedelta(days=3), day + timedelta(days=4))
    if "month" in lowered:
        return Period(day - timedelta(days=15), day + timedelta(days=16))
    return Period(day - timedelta(days=1), day + timedelta(days=2))


def question_period(question: str, now: datetime) -> Period | None:
    """The period the question refers to, or None when it names no time."""
    named = _season(question, now) or _named_month(question, now)
    if named is not None:
        return named
    found = search_dates(question, languages=["en"], settings=dateparser_settings(now))
    for text, moment in found or []:
        # search_dates also reads words like "may" (the verb) or "now" as dates.
        if len(text.strip()) < 3 or text.strip().lower() in {"may", "now", "sat", "sun", "mon"}:
            continue
        if moment > now + timedelta(days=1) and not _RELATIVE.search(text):
            continue
        return _granular(text, moment)
    return None
