"""Logging filters (see LOGGING in settings.py)."""

from __future__ import annotations

import logging


class ErrorAsWarning(logging.Filter):
    """Logs a record of level ERROR as a WARNING, without the traceback.

    For Django's refusals of bad requests with a 400 (a Host header not in ALLOWED_HOSTS, a
    form too large or with too many fields): Django logs them as errors, as attempts at
    something suspicious, but they say something about the client, not that the app failed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR:
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
            # Where Django raised its refusal says nothing the message does not.
            record.exc_info = None
            record.exc_text = None
        return True
