"""While the database is down, a request gets a 503 that says so in words: plain text for
htmx (the page shows it beside what failed, the typed text kept), a small page otherwise.

The outage is real: this process's connections go to a port nothing listens on, as they do
when Postgres is stopped.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection, transaction
from django.http import HttpResponse
from django.test import Client, RequestFactory

from memoryapp.middleware import DatabaseUnavailableMiddleware
from memoryapp.models import Conversation, Message
from tests import factories
from tests.support.database import database_down

pytestmark = pytest.mark.django_db(transaction=True)

SAID = "The database is unavailable, so nothing was saved. Try again in a moment."


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


@pytest.fixture
def chat(alice: User) -> Conversation:
    return factories.conversation(alice)


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_a_message_sent_while_the_database_is_down_gets_a_503_that_says_so(
    alice_client: Client, chat: Conversation
) -> None:
    with database_down():
        response = alice_client.post(
            f"/c/{chat.pk}/messages", {"content": "Remember this."}, headers={"HX-Request": "true"}
        )

    assert response.status_code == 503
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == SAID
    assert not Message.objects.exists()


def test_a_page_loaded_while_the_database_is_down_says_so(
    alice_client: Client, chat: Conversation
) -> None:
    with database_down():
        response = alice_client.get(chat.get_absolute_url())

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert SAID in response.content.decode()
    # Still signed in once the database is back.
    assert alice_client.get(chat.get_absolute_url()).status_code == 200


def test_a_query_of_the_view_itself_that_fails_is_a_503_too() -> None:
    def view(request: object) -> HttpResponse:
        raise AssertionError("not reached")

    middleware = DatabaseUnavailableMiddleware(view)
    request = RequestFactory().post("/c/x/messages", headers={"HX-Request": "true"})

    response = middleware.process_exception(request, OperationalError("connection refused"))

    assert response is not None
    assert response.status_code == 503
    assert response.content.decode() == SAID
    assert middleware.process_exception(request, ValueError("a bug")) is None


def test_a_failed_query_of_a_reachable_database_is_not_called_an_outage() -> None:
    # A statement timeout (or a deadlock) is an OperationalError too, but the database is up
    # and may have saved part of the request: "nothing was saved" would be untrue.
    middleware = DatabaseUnavailableMiddleware(lambda request: HttpResponse())
    request = RequestFactory().post("/c/x/messages", headers={"HX-Request": "true"})
    with (
        pytest.raises(OperationalError) as timed_out,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")

    assert middleware.process_exception(request, timed_out.value) is None
