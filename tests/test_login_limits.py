"""Sign-in attempts are limited (django-axes): LOGIN_FAILURE_LIMIT wrong passwords for one
account from one address, or LOGIN_ADDRESS_FAILURE_LIMIT from one address for any accounts,
pause signing in from there for LOGIN_LOCKOUT_MINUTES, on the sign-in page and the admin's,
with a page that says so; a successful sign-in starts the count again. LOGIN_ACCOUNT_FAILURE_LIMIT
for one account from any addresses pause signing in to it from every address it has not been
signed in from before."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from asgiref.sync import sync_to_async
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections
from django.test import AsyncClient, Client

from tests import factories

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedASGIResponse, _MonkeyPatchedWSGIResponse

    Response = _MonkeyPatchedWSGIResponse | _MonkeyPatchedASGIResponse

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-password-1"  # factories.user's
HOME = "198.51.100.1"
ELSEWHERE = "198.51.100.2"
LOCKED_OUT = "Too many failed sign-in attempts"


def _sign_in(username: str, password: str, address: str = HOME, path: str = "/login/") -> Response:
    response: Response = Client().post(
        path, {"username": username, "password": password}, REMOTE_ADDR=address
    )
    return response


def _fail(times: int, username: str = "alice", address: str = HOME) -> list[Response]:
    return [_sign_in(username, "wrong password", address) for _ in range(times)]


def _assert_locked_out(response: Response, username: str = "alice") -> None:
    assert response.status_code == 429
    body = response.content.decode()
    assert LOCKED_OUT in body
    assert f"{settings.LOGIN_LOCKOUT_MINUTES} minutes" in body
    assert f'value="{username}"' in body  # the sign-in form, username kept


def test_wrong_passwords_up_to_the_limit_then_even_the_right_one_is_refused() -> None:
    factories.user("alice")

    *before, last = _fail(settings.LOGIN_FAILURE_LIMIT)

    assert {r.status_code for r in before} == {200}
    assert "Please enter a correct username and password" in before[0].content.decode()
    _assert_locked_out(last)
    _assert_locked_out(_sign_in("alice", PASSWORD))


def test_the_lock_is_for_that_account_from_that_address_only() -> None:
    factories.user("alice")
    factories.user("bob")
    _fail(settings.LOGIN_FAILURE_LIMIT)

    assert _sign_in("alice", PASSWORD, address=ELSEWHERE).status_code == 302
    assert _sign_in("bob", PASSWORD).status_code == 302


def test_an_address_trying_many_accounts_is_paused_for_all_of_them() -> None:
    factories.user("bob")
    per_account = settings.LOGIN_FAILURE_LIMIT - 1  # never enough to lock one account
    names = iter(f"guess{n}" for n in range(settings.LOGIN_ADDRESS_FAILURE_LIMIT))
    failures = 0
    while failures + per_account < settings.LOGIN_ADDRESS_FAILURE_LIMIT:
        assert {r.status_code for r in _fail(per_account, username=next(names))} == {200}
        failures += per_account
    _fail(settings.LOGIN_ADDRESS_FAILURE_LIMIT - failures, username=next(names))

    _assert_locked_out(_sign_in("bob", PASSWORD), username="bob")
    assert _sign_in("bob", PASSWORD, address=ELSEWHERE).status_code == 302


def _guess_from_many_addresses(times: int, username: str = "alice") -> list[Response]:
    """Wrong passwords for one account, from ever new addresses, each staying under the limits
    for one address (as from a botnet, or with a faked X-Forwarded-For behind a proxy)."""
    per_address = settings.LOGIN_FAILURE_LIMIT - 1
    return [
        _sign_in(username, "wrong password", address=f"203.0.113.{n // per_address}")
        for n in range(times)
    ]


def test_one_account_guessed_from_many_addresses_is_paused_from_new_addresses() -> None:
    factories.user("alice")
    factories.user("bob")

    *before, last = _guess_from_many_addresses(settings.LOGIN_ACCOUNT_FAILURE_LIMIT)

    assert {r.status_code for r in before} == {200}
    _assert_locked_out(last)
    _assert_locked_out(_sign_in("alice", PASSWORD, address="192.0.2.1"))
    assert _sign_in("bob", PASSWORD, address="192.0.2.1").status_code == 302


def test_the_owner_still_signs_in_from_where_they_have_signed_in_before() -> None:
    factories.user("alice")
    assert _sign_in("alice", PASSWORD).status_code == 302

    _guess_from_many_addresses(settings.LOGIN_ACCOUNT_FAILURE_LIMIT)

    assert _sign_in("alice", PASSWORD).status_code == 302
    _assert_locked_out(_sign_in("alice", PASSWORD, address=ELSEWHERE))


def test_from_where_the_owner_has_signed_in_the_limit_per_account_and_address_still_holds() -> None:
    factories.user("alice")
    assert _sign_in("alice", PASSWORD).status_code == 302
    _guess_from_many_addresses(settings.LOGIN_ACCOUNT_FAILURE_LIMIT)

    _assert_locked_out(_fail(settings.LOGIN_FAILURE_LIMIT)[-1])


def test_a_successful_sign_in_starts_the_count_again() -> None:
    factories.user("alice")
    _fail(settings.LOGIN_FAILURE_LIMIT - 1)
    assert _sign_in("alice", PASSWORD).status_code == 302

    responses = _fail(settings.LOGIN_FAILURE_LIMIT - 1)

    assert {r.status_code for r in responses} == {200}
    assert _sign_in("alice", PASSWORD).status_code == 302


def test_signing_in_to_ones_own_account_does_not_clear_guesses_at_another() -> None:
    factories.user("alice")
    factories.user("bob")
    _fail(settings.LOGIN_FAILURE_LIMIT - 1)

    assert _sign_in("bob", PASSWORD).status_code == 302

    _assert_locked_out(_fail(1)[0])


def test_the_pause_ends_after_the_lockout_minutes() -> None:
    factories.user("alice")
    _fail(settings.LOGIN_FAILURE_LIMIT)

    earlier = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES, seconds=1)
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - earlier
        )

    assert _sign_in("alice", PASSWORD).status_code == 302


def test_the_owner_ends_a_pause_early_by_deleting_the_attempts_in_the_admin(
    alice_client: Client,
) -> None:
    factories.user("bob")
    _fail(settings.LOGIN_FAILURE_LIMIT, username="bob")

    listing = alice_client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "bob" in listing.content.decode()
    attempt = AccessAttempt.objects.get()
    alice_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert _sign_in("bob", PASSWORD).status_code == 302


def test_the_admin_sign_in_is_limited_too() -> None:
    User.objects.create_superuser("olga", password=PASSWORD)

    *_, last = [
        _sign_in("olga", "wrong password", path="/admin/login/")
        for _ in range(settings.LOGIN_FAILURE_LIMIT)
    ]

    _assert_locked_out(last, username="olga")
    _assert_locked_out(_sign_in("olga", PASSWORD, path="/admin/login/"), username="olga")
    assert _sign_in("olga", PASSWORD).status_code == 429


def test_a_lock_out_is_logged_as_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    factories.user("alice")

    _fail(settings.LOGIN_FAILURE_LIMIT + 1)

    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    locked = [r for r in caplog.records if getattr(r, "status_code", None) == 429]
    assert locked and {r.levelno for r in locked} == {logging.WARNING}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_asgi_handler_serves_the_same_page() -> None:
    """As daphne serves it (Axes' middleware takes another path there)."""
    await sync_to_async(factories.user)("alice")
    client = AsyncClient()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = await client.post("/login/", {"username": "alice", "password": "wrong"})

    await sync_to_async(connections.close_all)()
    assert response.status_code == 429
    assert LOCKED_OUT in response.content.decode()
