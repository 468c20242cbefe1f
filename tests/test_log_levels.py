"""Refusals that are part of normal life (4xx for bad or unauthorised requests, the 503 of
/healthz while workers start) are logged as warnings or less, never as errors: an error in the
log means something in the app went wrong."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.test import Client

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"
Request = Callable[[Client], "Response"]


def _login_post(client: Client, body: bytes, content_type: str = FORM) -> Response:
    return client.generic("POST", "/login/", body, content_type)


def _too_many_fields(client: Client) -> Response:
    fields = "&".join(f"f{n}=x" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    return _login_post(client, fields.encode())


def _too_big(client: Client) -> Response:
    return _login_post(client, b"username=" + b"x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))


ANONYMOUS: list[tuple[str, int, Request]] = [
    ("unknown page", 404, lambda c: c.get("/no/such/page")),
    ("wrong method", 405, lambda c: c.post("/healthz")),
    ("wrong charset", 400, lambda c: _login_post(c, b"username=x", f"{FORM}; charset=latin-1")),
    ("not UTF-8", 400, lambda c: _login_post(c, b"username=%FF")),
    ("unknown host", 400, lambda c: c.get("/login/", headers={"host": "evil.example"})),
    ("too many fields", 400, _too_many_fields),
    ("too big", 400, _too_big),
    ("no CSRF token", 403, lambda c: Client(enforce_csrf_checks=True).post("/login/", {})),
    ("workers starting", 503, lambda c: c.get("/healthz")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "request_"), [(s, r) for _, s, r in ANONYMOUS], ids=[n for n, *_ in ANONYMOUS]
)
def test_an_expected_refusal_is_not_logged_as_an_error(
    client: Client, caplog: pytest.LogCaptureFixture, status: int, request_: Request
) -> None:
    caplog.set_level(logging.INFO)

    response = request_(client)

    assert response.status_code == status
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert caplog.records  # logged, at a lower level
    assert [r.exc_info for r in caplog.records if r.exc_info] == []  # and without a traceback


@pytest.mark.parametrize(
    ("status", "path"),
    [(403, "/members/"), (404, "/c/00000000-0000-0000-0000-000000000000/")],
)
def test_a_member_refused_a_page_is_not_logged_as_an_error(
    bob_client: Client, caplog: pytest.LogCaptureFixture, status: int, path: str
) -> None:
    response = bob_client.get(path)

    assert response.status_code == status
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.WARNING
