"""Form posts that are not UTF-8 are refused with 400 and a sentence, before anything reads them:
a declared charset other than UTF-8 (which Django would otherwise refuse with a 500 when CSRF
or a view reads the form), and bytes or percent-escapes that are not UTF-8 (which Django would
store as mojibake)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.test import AsyncClient, Client

from memoryapp.models import Message
from tests import factories

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedASGIResponse, _MonkeyPatchedWSGIResponse

    Response = _MonkeyPatchedWSGIResponse | _MonkeyPatchedASGIResponse

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def _post(client: Client, path: str, body: bytes, content_type: str = FORM) -> Response:
    """POST `body` as it is (Client.post would re-encode it into the declared charset)."""
    response: Response = client.generic("POST", path, body, content_type)
    return response


def _assert_refused(response: Response, *phrases: str) -> None:
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "UTF-8" in text
    for phrase in phrases:
        assert phrase in text


@pytest.mark.parametrize("enforce_csrf", [True, False])
@pytest.mark.parametrize("charset", ["latin-1", "ISO-8859-1", "utf-16", "no-such-charset"])
def test_a_sign_in_post_declaring_another_charset_is_a_400_that_says_so(
    enforce_csrf: bool, charset: str
) -> None:
    client = Client(enforce_csrf_checks=enforce_csrf)

    response = _post(client, "/login/", b"username=alice&password=x", f"{FORM}; charset={charset}")

    _assert_refused(response, f"charset={charset}")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("charset", ["latin-1", "utf8"])
async def test_a_post_with_a_csrf_token_through_the_asgi_handler_is_not_a_500(
    charset: str,
) -> None:
    """As daphne serves it: Django's own refusal of the charset, raised again while it renders
    its 400 page, ended as a 500 (and "utf8" was refused although it is UTF-8)."""
    client = AsyncClient(enforce_csrf_checks=True)
    token = (await client.get("/login/")).cookies["csrftoken"].value

    response = await client.generic(
        "POST",
        "/login/",
        f"username=alice&password=x&csrfmiddlewaretoken={token}".encode(),
        f"{FORM}; charset={charset}",
    )

    # The handler's thread keeps its connection, which would hold up dropping the database.
    await sync_to_async(connections.close_all)()
    if charset == "utf8":
        assert response.status_code == 200  # the form, saying the password is wrong
    else:
        _assert_refused(response, "charset=latin-1")


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8"])
def test_a_post_declaring_utf_8_is_read_as_before(charset: str) -> None:
    factories.user("alice")

    response = _post(
        Client(),
        "/login/",
        b"username=alice&password=a-long-password-1",
        f"{FORM}; charset={charset}",
    )

    assert response.status_code == 302


@pytest.mark.parametrize(
    "body",
    [
        b"content=%C3%28",  # a two-byte sequence cut short
        b"content=%FF",  # never valid in UTF-8
        b"content=caf%E9",  # latin-1 "cafe" with an accent
        b"content=caf\xe9",  # the same byte sent raw
        b"content=%ED%A0%80",  # a surrogate, which UTF-8 may not encode
    ],
)
def test_a_message_that_is_not_utf_8_is_refused_and_not_stored(
    alice: User, alice_client: Client, body: bytes
) -> None:
    chat = factories.conversation(alice)

    response = _post(alice_client, f"/c/{chat.pk}/messages", body)

    _assert_refused(response, "not valid UTF-8", "content")
    assert not Message.objects.exists()


def test_a_message_in_a_declared_other_charset_is_refused_and_not_stored(
    alice: User, alice_client: Client
) -> None:
    chat = factories.conversation(alice)

    response = _post(
        alice_client, f"/c/{chat.pk}/messages", b"content=caf%E9", f"{FORM}; charset=latin-1"
    )

    _assert_refused(response, "charset=latin-1")
    assert not Message.objects.exists()


def test_a_message_in_utf_8_is_stored_as_sent(alice: User, alice_client: Client) -> None:
    chat = factories.conversation(alice)

    response = _post(alice_client, f"/c/{chat.pk}/messages", "content=caf%C3%A9 ☕ 中文".encode())

    assert response.status_code == 200
    assert Message.objects.get(role=Message.Role.USER).content == "café ☕ 中文"
