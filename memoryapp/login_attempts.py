"""How django-axes counts failed sign-ins here: a limit per account from one address, a larger
one per address, and one per account from any address that spares the addresses the account
has signed in from before (settings LOGIN_FAILURE_LIMIT, LOGIN_ADDRESS_FAILURE_LIMIT,
LOGIN_ACCOUNT_FAILURE_LIMIT)."""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessLog
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpRequest


def _failures(attempts: QuerySet[Any]) -> int:
    total: int | None = attempts.aggregate(total=Sum("failures_since_start"))["total"]
    return total or 0


def _scaled(failures: int, limit: int) -> int:
    """Axes compares one count with AXES_FAILURE_LIMIT; another count is given in that scale,
    so that it reaches AXES_FAILURE_LIMIT exactly at its own limit."""
    return failures * settings.AXES_FAILURE_LIMIT // limit


class LoginAttemptHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit for each of its three counts (settings
    AXES_LOCKOUT_PARAMETERS, in this order): failures for one account from one address,
    from one address for any accounts, and for one account from any addresses."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        account_address, address, account = self.get_user_attempts(request, credentials)
        counts = [
            _failures(account_address),
            _scaled(_failures(address), settings.LOGIN_ADDRESS_FAILURE_LIMIT),
        ]
        account_count = _scaled(_failures(account), settings.LOGIN_ACCOUNT_FAILURE_LIMIT)
        # Anyone may fail for an account from many addresses; so that this cannot lock its
        # owner out everywhere, the addresses it has signed in from keep only the other limits.
        if account_count >= settings.AXES_FAILURE_LIMIT and not self._signed_in_from_here(
            request, credentials
        ):
            counts.append(account_count)
        return max(counts)

    def _signed_in_from_here(
        self, request: HttpRequest, credentials: dict[str, Any] | None
    ) -> bool:
        signed_in: bool = AccessLog.objects.filter(
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,  # type: ignore[attr-defined]
        ).exists()
        return signed_in

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        """After a successful sign-in: that account's failures from that address only. Axes
        would also clear the address's count, which anyone with an account could then wipe
        between guesses at someone else's password by signing in to their own, and the
        account's count, which the owner signing in would wipe for an attacker elsewhere."""
        account, *_ = self.filter_user_attempts(request, credentials)
        count: int = account.delete()[0]
        return count
