"""Time references in a question ("last May", "in 2023", "two weeks ago", "last spring"),
resolved against the current time into the period they name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dateparser
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
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# A relative expression names a period only with an anchor: "a week" alone ("twice a week")
# is a frequency, "a week ago" or "last week" a time.
_ANCHOR = re.compile(
    r"\b(ago|yesterday|today|tonight|last|this|past|previous|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
_VAGUE_COUNTS = {"a few": "3", "few": "3", "a couple of": "2", "couple of": "2", "several": "4"}
_VAGUE_AGO = re.compile(r"\b(a few|a couple of|several)\s+(days|weeks|months|years)\s+ago\b", re.I)
# "in the past three months", "over the last few weeks", "in the past month": until now. Not
# "the last two days of my trip" (of what follows), nor "last month" (the calendar month).
_SPAN = re.compile(
    r"\b(?:(?:past|last|previous)\s+(few|couple of|several|\d+|two|three|four|five|six|seven|"
    r"eight|nine|ten|eleven|twelve)\s+(days|weeks|months|years)|past\s+(day|week|month|year))"
    r"\b(?!\s+of\b)",
    re.IGNORECASE,
)
_CALENDAR = re.compile(r"\b(last|this)\s+(month|year)\b(?!\s+of\b)", re.IGNORECASE)
_WEEKEND = re.compile(r"\b(last|this|past)\s+weekend\b", re.IGNORECASE)
_AGO = re.compile(r"\bago\b", re.IGNORECASE)
_LEADING_IN = re.compile(r"^in\s+", re.IGNORECASE)
# "Did"/"used to"/"before": the question asks about the past, where superseded facts belong.
_PAST = re.compile(
    r"\b(used to|previously|before|formerly|former|earlier|ago|did|was|were|had|"
    r"last (?:year|month|week|spring|summer|autumn|fall|winter))\b",
    re.IGNORECASE,
)


# How loosely "N ... ago" is meant, as a fraction of the distance.
APPROXIMATION = 0.2
MONDAY = 0


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


def _span(question: str, now: datetime) -> Period | None:
    """ "in the past three months", "over the last few weeks": from that long ago until now."""
    match = _SPAN.search(question)
    if not match:
        return None
    if match.group(3):  # "the past month": one of them
        count, unit = "1", match.group(3)
    else:
        count, unit = _VAGUE_COUNTS.get(match.group(1).lower(), match.group(1)), match.group(2)
    start = _days_ago(f"{count} {unit} ago", now)
    if start is None:
        return None
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return Period(day, now + timedelta(days=1))


def _days_ago(expression: str, now: datetime) -> datetime | None:
    """ "3 months ago" counted back from `now` to the day (not to the 1st of that month)."""
    settings = {**dateparser_settings(now), "PREFER_DAY_OF_MONTH": "current"}
    return dateparser.parse(expression, languages=["en"], settings=settings)


def _weekend(question: str, now: datetime) -> Period | None:
    """ "last weekend": the latest Saturday and Sunday that have ended. "This weekend": the
    one under way; on a Monday the one just past, later in the week the coming one."""
    match = _WEEKEND.search(question)
    if not match:
        return None
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    saturday = today - timedelta(days=(today.weekday() - 5) % 7)  # the latest, maybe today
    weekend_over = saturday + timedelta(days=2) <= now
    if match.group(1).lower() == "this" and weekend_over and today.weekday() != MONDAY:
        saturday += timedelta(days=7)
    elif match.group(1).lower() != "this" and not weekend_over:
        saturday -= timedelta(days=7)
    return Period(saturday, saturday + timedelta(days=2))


def _calendar(question: str, now: datetime) -> Period | None:
    """ "last month", "this year": the calendar month or year."""
    match = _CALENDAR.search(question)
    if not match:
        return None
    this_month = datetime(now.year, now.month, 1, tzinfo=UTC)
    this_year = datetime(now.year, 1, 1, tzinfo=UTC)
    last = match.group(1).lower() == "last"
    if match.group(2).lower() == "month":
        previous = datetime(now.year - (now.month == 1), (now.month - 2) % 12 + 1, 1, tzinfo=UTC)
        return Period(previous, this_month) if last else Period(this_month, _month_end(this_month))
    if last:
        return Period(this_year.replace(year=now.year - 1), this_year)
    return Period(this_year, this_year.replace(year=now.year + 1))


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


def _granular(text: str, moment: datetime, now: datetime) -> Period:
    """The period a matched expression names: a year, a month, a week or a day. "N days /
    weeks / months ago" is remembered loosely, the more so the longer ago: the period is
    widened by a fifth of the distance on each side."""
    lowered = text.lower().strip()
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if _YEAR_ONLY.match(lowered):
        return Period(
            datetime(day.year, 1, 1, tzinfo=UTC), datetime(day.year + 1, 1, 1, tzinfo=UTC)
        )
    has_month = _names_a_month(lowered)
    has_day_number = bool(
        re.search(r"\b\d{1,2}(st|nd|rd|th)?\b", lowered.replace(str(day.year), ""))
    )
    if has_month and not has_day_number:
        start = day.replace(day=1)
        return Period(start, _month_end(start))
    if "week" in lowered:
        margin = timedelta(days=3)
    elif "month" in lowered:
        margin = timedelta(days=15)
    else:
        margin = timedelta(days=1)
    if _AGO.search(lowered):
        margin = max(margin, timedelta(days=round((now - moment).days * APPROXIMATION)))
    return Period(day - margin, day + margin + timedelta(days=1))


def question_period(question: str, now: datetime) -> Period | None:
    """The period the question refers to, or None when it names no time."""
    named = (
        _span(question, now)
        or _calendar(question, now)
        or _season(question, now)
        or _named_month(question, now)
        or _weekend(question, now)
    )
    if named is not None:
        return named
    question = _VAGUE_AGO.sub(
        lambda m: f"{_VAGUE_COUNTS[m.group(1).lower()]} {m.group(2)} ago", question
    )
    found = search_dates(question, languages=["en"], settings=dateparser_settings(now))
    for text, moment in found or []:
        resolved = _resolved(text, moment, question, now)
        if resolved is not None:
            return _granular(text, resolved, now)
    return None


def _resolved(text: str, moment: datetime, question: str, now: datetime) -> datetime | None:
    """The moment a date search_dates found in the question stands for, or None when the
    text is no reference to a past time."""
    # search_dates also reads words like "may" (the verb) or "now" as dates.
    if len(text.strip()) < 3 or text.strip().lower() in {"may", "now", "sat", "sun", "mon"}:
        return None
    if _is_relative(text) and not _ANCHOR.search(text):
        return None
    if re.search(rf"{re.escape(text)}\s+of\b", question):  # "the last days of my trip"
        return None
    years = {int(year) for year in _YEAR.findall(text)}
    if years and moment.year not in years:  # "three months of 2022" read as 2024
        return None
    if _AGO.search(text):
        # Counted back to the day; search_dates reads "in a week ago" as a week ahead.
        reread = _days_ago(_LEADING_IN.sub("", text.strip()), now)
        if reread is None:
            return None
        moment = reread
    return None if moment > now + timedelta(days=1) else moment


def _is_relative(text: str) -> bool:
    """No year and no month name: a period said relative to now ("3 days", "a week")."""
    return not _names_a_month(text) and not _YEAR.search(text)


def _names_a_month(text: str) -> bool:
    """A month's name or its three-letter short form as a word of `text`."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return any(month in words or month[:3] in words for month in MONTHS)
