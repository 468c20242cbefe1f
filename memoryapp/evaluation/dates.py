"""Dates as benchmark files write them, read as timezone-aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dateparser

# The two data sets' own formats, read directly (dateparser takes ~3 ms a date, and a
# LongMemEval file has thousands); anything else goes to dateparser.
KNOWN_FORMATS = (
    "%I:%M %p on %d %B, %Y",  # LoCoMo: "1:56 pm on 8 May, 2023"
    "%Y/%m/%d (%a) %H:%M",  # LongMemEval: "2023/05/20 (Sat) 02:21"
)
DATEPARSER_SETTINGS: Any = {
    "TIMEZONE": "UTC",
    "TO_TIMEZONE": "UTC",
    "RETURN_AS_TIMEZONE_AWARE": True,
    "DATE_ORDER": "DMY",
}


def parse_time(text: str) -> datetime | None:
    """`text` as an aware datetime in UTC (times without a zone are UTC); None if unreadable."""
    cleaned = " ".join(text.split())
    for known in KNOWN_FORMATS:
        try:
            return datetime.strptime(cleaned, known).replace(tzinfo=UTC)
        except ValueError:
            continue
    return dateparser.parse(cleaned, languages=["en"], settings=DATEPARSER_SETTINGS)
