"""An answer's full round trip, driven as the browser drives it.

A throw-away user with a session cookie loads a conversation page, opens the conversation's
websocket and posts a message over HTTP like htmx does; the web server queues the answer,
the chat worker streams it to the websocket, then sends the final rendering.
"""

from __future__ import annotations

import contextlib
import http.client
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from importlib import import_module
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.urls import reverse
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.timing import Timing
from memoryapp.models import Conversation, Message
from memoryapp.services.conversations import conversation_create, conversation_rename

HTTP_TIMEOUT = 30.0
_CSRF_TOKEN = re.compile(r'"X-CSRFToken": "([^"]+)"')
# A stand-in for the end of a closed websocket in the frame queue.
_CLOSED = (0.0, "")


def _session_create(user: User) -> SessionBase:
    """A signed-in session for `user`, as `login()` would store it."""
    session: SessionBase = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session


@contextlib.contextmanager
def bench_user() -> Iterator[tuple[User, str]]:
    """A throw-away user and its session key; both deleted afterwards (with the user's
    conversations and messages), also on errors."""
    user = User.objects.create_user(username=f"chat-bench-{secrets.token_hex(6)}")
    session: SessionBase | None = None
    try:
        session = _session_create(user)
        yield user, str(session.session_key)
    finally:
        if session is not None:
            session.delete()
        user.delete()


class _Browser:
    """What the page does over HTTP: keeps cookies, sends htmx's headers and the CSRF token."""

    def __init__(self, base_url: str, session_key: str) -> None:
        parts = urlsplit(base_url)
        self.origin = base_url
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._cookies = {settings.SESSION_COOKIE_NAME: session_key}
        self._csrf_token = ""

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self._cookies.items())

    def load_page(self, path: str) -> None:
        """GET a page and keep its CSRF token (the cookie comes with the response)."""
        body = self._request("GET", path, b"", {})
        match = _CSRF_TOKEN.search(body)
        if match is None:
            raise BenchError(f"GET {path} returned a page without a CSRF token.")
        self._csrf_token = match.group(1)

    def post_form(self, path: str, fields: dict[str, str]) -> str:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "HX-Request": "true",
            "X-CSRFToken": self._csrf_token,
            "Origin": self.origin,
        }
        return self._request("POST", path, urlencode(fields).encode(), headers)

    def _request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> str:
        client = http.client.HTTPConnection(self._host, self._port, timeout=HTTP_TIMEOUT)
        try:
            client.request(method, path, body, {**headers, "Cookie": self.cookie_header})
            response = client.getresponse()
            text = response.read().decode(errors="replace")
        except OSError as exc:
            raise BenchError(f"{method} {path} failed: {exc}") from exc
        finally:
            client.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            self._cookies.update({k: m.value for k, m in SimpleCookie(header).items()})
        if response.status != 200:
            raise BenchError(f"{method} {path} answered {response.status}: {text[:300]!r}")
        return text


class _Frames:
    """A websocket's text frames, each stamped (perf_counter) on arrival by a reader thread."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self._frames: queue.SimpleQueue[tuple[float, str]] = queue.SimpleQueue()
        self._closed_by: ConnectionClosed | None = None
        self._thread = threading.Thread(target=self._read, name="chat-bench-ws", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for frame in self._websocket:
                text = frame if isinstance(frame, str) else frame.decode(errors="replace")
                self._frames.put((time.perf_counter(), text))
        except ConnectionClosed as exc:
            self._closed_by = exc
        finally:
            self._frames.put(_CLOSED)

    def next(self, deadline: float) -> tuple[float, str]:
        """The next frame and when it arrived; BenchError at the deadline or on close."""
        try:
            frame = self._frames.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            raise BenchError("No websocket message arrived in time.") from None
        if frame is _CLOSED:
            how = "" if self._closed_by is None else f" ({self._closed_by})"
            raise BenchError(f"The websocket closed during the answer{how}; see the web log.")
        return frame


@dataclass(frozen=True)
class _Answered:
    first_token_at: float | None
    ended_at: float
    final_html: str


def _await_answer(frames: _Frames, answer_id: str, deadline: float) -> _Answered:
    """Read frames until the answer's final rendering; note when its first piece came."""
    stream_marker, final_marker = f'id="stream-{answer_id}"', f'id="msg-{answer_id}"'
    first: float | None = None
    while True:
        arrived, html = frames.next(deadline)
        if final_marker in html:
            return _Answered(first, arrived, html)
        if first is None and stream_marker in html:
            first = arrived


@dataclass(frozen=True)
class Trip:
    """One round trip: its timing, the stored answer, and when (`time.perf_counter`) the
    message was posted, the web server answered the post and the first fragment arrived."""

    timing: Timing
    answer: Message
    started: float
    posted: float
    first_fragment_at: float


class RoundTrip:
    """Sends one message per run in a new conversation and times the answer end to end."""

    def __init__(
        self,
        *,
        base_url: str,
        owner: User,
        session_key: str,
        count_tokens: Callable[[str], int],
        timeout: float,
    ) -> None:
        self._browser = _Browser(base_url, session_key)
        self._ws_base = "ws" + base_url.removeprefix("http")
        self._owner = owner
        self._count_tokens = count_tokens
        self._timeout = timeout

    def _conversation(self) -> Conversation:
        conversation = conversation_create(owner=self._owner)
        # Titled already, so no title suggestion keeps the worker busy after the answer.
        return conversation_rename(conversation=conversation, title="chat_bench")

    def _connect(self, conversation: Conversation) -> ClientConnection:
        url = f"{self._ws_base}/ws/c/{conversation.pk}/"
        try:
            return connect(
                url,
                additional_headers={"Cookie": self._browser.cookie_header},
                origin=Origin(self._browser.origin),
                proxy=None,
                open_timeout=HTTP_TIMEOUT,
            )
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise BenchError(f"The websocket {url} refused the connection: {exc}") from exc

    def run(self, prompt: str) -> Trip:
        """Post `prompt` in a fresh conversation and time its answer."""
        conversation = self._conversation()
        self._browser.load_page(conversation.get_absolute_url())
        post_url = reverse("message_send", kwargs={"conversation_id": conversation.pk})
        with self._connect(conversation) as websocket:
            frames = _Frames(websocket)
            started = time.perf_counter()
            deadline = time.monotonic() + self._timeout
            self._browser.post_form(post_url, {"content": prompt})
            posted = time.perf_counter()
            answer = Message.objects.get(conversation=conversation, role=Message.Role.ASSISTANT)
            answered = _await_answer(frames, str(answer.pk), deadline)
        answer.refresh_from_db()
        if "status-failed" in answered.final_html or answer.status != Message.Status.DONE:
            raise BenchError(f"The answer ended {answer.status}: {answer.error or 'no error text'}")
        if answered.first_token_at is None:
            raise BenchError("The answer was finished without any streamed text.")
        tokens = answer.token_count
        if tokens is None:
            tokens = self._count_tokens(answer.content)
        timing = Timing(
            first_token=answered.first_token_at - started,
            generation=answered.ended_at - answered.first_token_at,
            tokens=tokens,
        )
        return Trip(timing, answer, started, posted, answered.first_token_at)
