"""`make run` for real, on scratch servers: `python -m memoryapp.devstack run` with its own
var directory and free ports for the web server, the embedded Postgres and Redis.

`RunStack` starts it and reads its output; `Visitor` is a person in a browser: signs in with
the owner setup link the run prints, posts messages like htmx does and reads the
conversation's websocket. Used by the whole-stack tests and by the `fault_drill` command.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from websockets.sync.client import connect
from websockets.typing import Origin

from memoryapp.devstack.services import EmbeddedPostgres, EmbeddedRedis, free_port, port_is_open

# Variables of the test process that would point the run at the test's own servers.
_NOT_INHERITED = (
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "REDIS_URL",
    "REDIS_URL_FILE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


T = TypeVar("T")
PROJECT_DIR = Path(__file__).resolve().parents[2]


class StackError(RuntimeError):
    """The stack did not do what a person relies on (answer, sign in, start)."""


class RunStack:
    """The whole application as `make run` starts it, in `var_dir`."""

    def __init__(self, var_dir: Path, env: dict[str, str] | None = None) -> None:
        self.var_dir = var_dir
        self.port, self.postgres_port, self.redis_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in _NOT_INHERITED},
            "MEMORYAPP_VAR_DIR": str(var_dir),
            "EMBEDDED_POSTGRES_PORT": str(self.postgres_port),
            "EMBEDDED_REDIS_PORT": str(self.redis_port),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> RunStack:
        self.process = subprocess.Popen(  # noqa: S603 - this Python, fixed arguments
            [sys.executable, "-m", "memoryapp.devstack", "run", "--port", str(self.port)],
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        stdout = self._started().stdout
        if stdout is None:
            return
        with (self.var_dir.parent / "run.log").open("w") as log:
            for line in stdout:
                self._lines.append(line.rstrip("\n"))
                log.write(line)
                log.flush()

    def _started(self) -> subprocess.Popen[str]:
        if self.process is None:
            raise StackError("the stack was not started")
        return self.process

    def output(self) -> str:
        return "\n".join(self._lines)

    def wait_for_output(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first output line matching `pattern` (a liveness wait, not a timing check)."""
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self._lines):
                match = re.search(pattern, line)
                if match:
                    return match
            self._check_alive(pattern, deadline, timeout)
            time.sleep(0.2)

    def _check_alive(self, what: str, deadline: float, timeout: float) -> None:
        process = self._started()
        if process.poll() is not None:
            raise RuntimeError(
                f"`run` exited with {process.returncode} while waiting for {what}:\n"
                + self.output()
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout}s:\n{self.output()}")

    def pid_of(self, name: str) -> int | None:
        """The pid of the run's live process `name`: "web", "beat", or the Celery worker of
        a queue (the process itself, not a shell that runs it)."""
        process = self._started()
        for pid in _descendants(process.pid):
            if _runs(name, _arguments(pid)):
                return pid
        return None

    def wait_until(
        self,
        condition_name: str,
        condition: Callable[[], T | None],
        timeout: float,
        every: float = 0.5,
    ) -> T:
        """`condition()` once it is truthy, asked `every` seconds (a liveness wait)."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            self._check_alive(condition_name, deadline, timeout)
            time.sleep(every)

    def stop(self, timeout: float = 90) -> int:
        """SIGTERM, as `kill` or a service manager would stop it; its exit code."""
        process = self._started()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        if self._reader is not None:
            self._reader.join(10)
        return code

    def servers_left_running(self) -> list[str]:
        ports = {"web": self.port, "postgres": self.postgres_port, "redis": self.redis_port}
        return [name for name, port in ports.items() if port_is_open(port)]

    def stop_servers(self) -> None:
        """Stop the embedded servers if a failed run left them behind."""
        if port_is_open(self.postgres_port):
            EmbeddedPostgres(self.var_dir / "postgres", self.postgres_port).stop()
        if port_is_open(self.redis_port):
            EmbeddedRedis(self.var_dir / "redis", self.redis_port).stop()


@contextmanager
def run_stack(var_dir: Path, env: dict[str, str] | None = None) -> Iterator[RunStack]:
    stack = RunStack(var_dir, env).start()
    try:
        yield stack
    finally:
        stack.stop()
        stack.stop_servers()


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _runs(name: str, args: list[str]) -> bool:
    if name == "web":
        return "daphne" in args
    if name == "beat":
        return "celery" in args and "beat" in args
    return "worker" in args and "--queues" in args and name in args[args.index("--queues") :]


def _arguments(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_text().split("\0")
    except OSError:
        return []


class Visitor:
    """A person with a browser: cookies, the CSRF token of the last page, htmx's headers."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.csrf_token = ""

    def get(self, path: str) -> tuple[int, str, str]:
        """(status, final URL after redirects, body)."""
        return self._send(urllib.request.Request(self.base_url + path))  # noqa: S310

    def post(self, path: str, fields: dict[str, str], *, htmx: bool = True) -> tuple[int, str, str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if htmx:
            headers |= {"HX-Request": "true", "X-CSRFToken": self.csrf_token}
        else:
            fields = {**fields, "csrfmiddlewaretoken": self.csrf_token}
        request = urllib.request.Request(  # noqa: S310 - the stack's own URL
            self.base_url + path, data=urlencode(fields).encode(), headers=headers, method="POST"
        )
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> tuple[int, str, str]:
        try:
            with self._opener.open(request, timeout=30) as response:
                status, url = response.status, response.geturl()
                body = response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            status, url, body = error.code, error.geturl(), error.read().decode(errors="replace")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body) or re.search(
            r'"X-CSRFToken": "([^"]+)"', body
        )
        if token:
            self.csrf_token = token.group(1)
        return status, url, body

    def sign_up_as_owner(self, setup_url: str, username: str, password: str) -> None:
        self.get(setup_url.removeprefix(self.base_url))
        status, url, body = self.post(
            setup_url.removeprefix(self.base_url),
            {"username": username, "password1": password, "password2": password},
            htmx=False,
        )
        if not (status == 200 and "/setup/" not in url):
            raise StackError(f"sign-up refused ({status}): {body[:2000]}")

    def health(self) -> tuple[int, dict[str, Any]]:
        """/healthz's status and report; (0, {}) while nothing answers."""
        try:
            status, _, body = self.get("/healthz")
        except urllib.error.URLError:
            return 0, {}
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {}

    def new_conversation(self) -> str:
        """Start a conversation; its id (the page is loaded, its CSRF token kept)."""
        self.get("/")
        status, url, body = self.post("/c/new", {}, htmx=False)
        match = re.search(r"/c/([0-9a-f-]{36})/$", url)
        if status != 200 or match is None:
            raise StackError(f"no new conversation ({status} {url}): {body[:2000]}")
        return match.group(1)

    def ask(self, conversation_id: str, text: str, timeout: float = 180) -> list[str]:
        """Send `text` as the composer does and read the websocket until its answer is final;
        the frames that concern the answer, the final rendering last."""
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.cookies)
        ws_url = "ws" + self.base_url.removeprefix("http") + f"/ws/c/{conversation_id}/"
        with connect(
            ws_url,
            additional_headers={"Cookie": cookie},
            origin=Origin(self.base_url),
            proxy=None,
            open_timeout=30,
        ) as websocket:
            status, _, body = self.post(f"/c/{conversation_id}/messages", {"content": text})
            if not (status == 200):
                raise StackError(f"message refused ({status}): {body[:2000]}")
            match = re.search(r'id="msg-([0-9a-f-]{36})" class="msg msg-assistant', body)
            if match is None:
                raise StackError(f"no answer in the response: {body[:2000]}")
            answer = match.group(1)
            frames: list[str] = []
            deadline = time.monotonic() + timeout
            while True:
                frame = websocket.recv(timeout=max(deadline - time.monotonic(), 0.1))
                text_frame = frame if isinstance(frame, str) else frame.decode()
                if answer in text_frame:
                    frames.append(text_frame)
                if f'id="msg-{answer}"' in text_frame:
                    return frames
