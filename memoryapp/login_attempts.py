"""How django-axes counts failed sign-ins here: a limit per account from one address and a
larger one per address (settings LOGIN_FAILURE_LIMIT, LOGIN_ADDRESS_FAILURE_LIMIT)."""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpRequest


def _failures(attempts: QuerySet[Any]) -> int:
    total: int | None = attempts.aggregate(total=Sum("failures_since_start"))["total"]
    return total or 0


class LoginAttemptHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit for each of its two counts (settings
    AXES_LOCKOUT_PARAMETERS): failures for one account from one address, and failures from
    one address for any accounts."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        account, address = self.get_user_attempts(request, credentials)
        # Axes compares one count with AXES_FAILURE_LIMIT; the address's count is given in
        # that scale, so that it reaches the limit exactly at LOGIN_ADDRESS_FAILURE_LIMIT.
        scaled = _failures(address) * settings.AXES_FAILURE_LIMIT
        return max(_failures(account), scaled // settings.LOGIN_ADDRESS_FAILURE_LIMIT)

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        """After a successful sign-in: that account's failures from that address only. Axes
        would also clear the address's count, which anyone with an account could then wipe
        between guesses at someone else's password by signing in to their own."""
        account, _ = self.filter_user_attempts(request, credentials)
        count: int = account.delete()[0]
        return count
