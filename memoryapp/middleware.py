"""Middleware of memoryapp (see MIDDLEWARE in settings.py for where each one sits)."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import kombu.exceptions
import redis
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseBase
from django.template.loader import render_to_string
from django.utils.deprecation import MiddlewareMixin
from django.utils.log import log_response

FORM_CONTENT_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def _is_utf_8(charset: str) -> bool:
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False


def _not_utf_8_field(body: bytes) -> str | None:
    """The name of the first field of a URL-encoded form that is not valid UTF-8, raw or
    percent-escaped, or None when every field is."""
    # Bytes that are not UTF-8 become lone surrogates, which no valid text contains.
    text = body.decode("utf-8", "surrogateescape")
    try:
        fields = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="surrogateescape",
            max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        )
    except ValueError:  # too many fields: Django refuses the form when it reads it
        return None
    for name, value in fields:
        if not (_is_valid(name) and _is_valid(value)):
            return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return None


def _is_valid(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refusal(message: str) -> HttpResponse:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


class Utf8FormMiddleware(MiddlewareMixin):
    """Form posts must be UTF-8: one that declares another charset, or whose fields are not
    valid UTF-8, is refused with a 400 that says so, before CSRF or a view reads it.

    Django refuses a declared charset other than exactly "utf-8" itself, but it raises the
    error again while rendering its 400 page (a 500), and it decodes text that is not UTF-8
    with replacement characters, which would be stored as mojibake.
    """

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if request.method != "POST" or request.content_type not in FORM_CONTENT_TYPES:
            return None
        charset = (request.content_params or {}).get("charset")
        if charset is not None:
            if not _is_utf_8(charset):
                return _refusal(
                    f"This form was sent as charset={charset}; only UTF-8 is accepted. "
                    "Nothing was saved."
                )
            # Django accepts only the spelling "utf-8" (not "utf8" or "UTF-8").
            request.encoding = settings.DEFAULT_CHARSET
        if request.content_type == "multipart/form-data":
            return None
        field = _not_utf_8_field(request.body)
        if field is None:
            return None
        return _refusal(f"The text of the field {field!r} is not valid UTF-8. Nothing was saved.")


# Raised by every query when the database cannot be reached (down, restarting, refusing
# connections), and by a connection that broke under a request; also, from a database that
# is up, by a failed statement (timeout, deadlock), which `_is_outage` tells apart.
DATABASE_UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)
# SQLSTATE classes of an unreachable server: connection exceptions, operator intervention
# (shutting down, restarting). Errors raised before the server answered carry none.
OUTAGE_SQLSTATE_PREFIXES = ("08", "57P")


def _is_outage(exc: Exception) -> bool:
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(OUTAGE_SQLSTATE_PREFIXES)


DATABASE_UNAVAILABLE = "The database is unavailable, so nothing was saved. Try again in a moment."


class DatabaseUnavailableMiddleware:
    """While the database is down, a request is answered with a 503 that says so in words
    (plain text for htmx, which shows it beside what failed; a small page otherwise), not
    Django's 500 page.

    Sits after AuthenticationMiddleware and before LoginRequiredMiddleware: the signed-in user
    is read from the database lazily, by the first code that asks, which for most requests is
    LoginRequiredMiddleware, whose errors no `process_exception` sees. Asked here first, an
    outage is caught where a response can still be chosen; the views' own queries are caught
    by `process_exception`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: Sequence[Any],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if not getattr(view_func, "login_required", True):
            return None  # public views (sign-in, /healthz) answer an outage their own way
        try:
            request.user.is_authenticated  # noqa: B018 - loads the user, the first query
        except DATABASE_UNAVAILABLE_ERRORS as exc:
            if not _is_outage(exc):
                raise
            return database_unavailable(request, exc)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_UNAVAILABLE_ERRORS) and _is_outage(exception):
            return database_unavailable(request, exception)
        return None


def database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _unavailable(request, exc, "Database unavailable", DATABASE_UNAVAILABLE)


# Redis carries the stop flags and the jobs; a request that needs it while it is down fails
# before anything is saved (a message is sent without it: its answer waits in the database).
BROKER_UNAVAILABLE_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    kombu.exceptions.OperationalError,
)
BROKER_UNAVAILABLE = (
    "Redis, which passes work to the assistant, is unavailable, so nothing was changed. "
    "Try again in a moment."
)


class BrokerUnavailableMiddleware(MiddlewareMixin):
    """While Redis is down, a request that needs it is answered with a 503 that says so (as
    `DatabaseUnavailableMiddleware` does for the database), not Django's 500 page."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, BROKER_UNAVAILABLE_ERRORS):
            return _unavailable(request, exception, "Redis unavailable", BROKER_UNAVAILABLE)
        return None


def _unavailable(request: HttpRequest, exc: Exception, title: str, message: str) -> HttpResponse:
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    else:
        # No base template: its context (messages, the user) would ask the database again.
        response = HttpResponse(
            render_to_string("errors/unavailable.html", {"title": title, "message": message}),
            status=503,
        )
    response["Retry-After"] = "5"
    log_response(
        "%s: %s (%s)", title, request.path, exc, response=response, request=request, level="error"
    )
    return response


class LoginRequiredMiddleware(auth_middleware.LoginRequiredMiddleware):
    """Django's, except that a view open to anyone (sign-in, /healthz) is served without
    reading the signed-in user first. Reading it reads the session from the database, and
    /healthz must answer 503, not 500, while the database is down, whatever cookie the
    request carries."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[Any, Any],
    ) -> HttpResponseBase | None:
        if not getattr(view_func, "login_required", True):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
