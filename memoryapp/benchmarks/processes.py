"""A benchmark's own web server and chat worker, started as `make run` starts them.

Both use private queue names: answer jobs go to a queue only this worker consumes, so a
`make run` worker on the same Redis cannot take them (nor the reverse), and the memory jobs
that answers queue go to a queue nobody consumes, dropped at the end, so no memory worker
spends CPU on the benchmark's conversations while it is timed.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import redis
from django.conf import settings
from django.db import connection

from memoryapp.benchmarks import BenchError
from memoryapp.devstack.services import free_port
from memoryapp.devstack.stack import PROJECT_DIR, processes
from memoryapp.heartbeats import WorkerHeartbeat, heartbeats_read

HOST = "127.0.0.1"
WEB_READY_SECONDS = 30.0
STOP_SECONDS = 30.0
_POLL_SECONDS = 0.2
_LOG_TAIL_CHARS = 3000


def _with_option(command: list[str], option: str, value: str) -> list[str]:
    """`command` with the value after `option` replaced."""
    if option not in command:
        raise BenchError(f"The devstack command {command} has no {option} option to replace.")
    index = command.index(option)
    return [*command[: index + 1], value, *command[index + 2 :]]


def database_url() -> str:
    """The configured DATABASE_URL, naming the database this process uses (under pytest,
    the test database)."""
    parts = urlsplit(settings.DATABASE_URL)
    name = str(connection.settings_dict["NAME"])
    return urlunsplit(parts._replace(path="/" + quote(name)))


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-_LOG_TAIL_CHARS:]

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise BenchError(
                f"The {self.name} process exited with code {code}; its log "
                f"({self.log_path}) ends with:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # SIGTERM: daphne closes, the worker finishes its task and removes its heartbeat.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class BenchProcesses:
    """daphne on a free port and one solo-pool chat worker with a unique hostname."""

    def __init__(self, *, answer_max_tokens: int, log_dir: Path, token: str) -> None:
        self.port = free_port()
        self.queue = f"chat-bench-{token}"
        self.memory_queue = f"chat-bench-{token}-memory"
        self.hostname = f"chat-bench-{token}@{socket.gethostname()}"
        self.log_dir = log_dir
        self._answer_max_tokens = answer_max_tokens
        self._children: list[_Child] = []

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CHAT_QUEUE": self.queue,
            "MEMORY_QUEUE": self.memory_queue,
            "CHAT_ANSWER_MAX_TOKENS": str(self._answer_max_tokens),
            # Readiness is seen through heartbeats; frequent ones shorten the wait.
            "WORKER_HEARTBEAT_SECONDS": "1",
            # The worker's first-fragment lines (`services.answer_timing`) are INFO.
            "LOG_LEVEL": "INFO",
        }
        env.pop("DATABASE_URL_FILE", None)
        env.pop("REDIS_URL_FILE", None)
        return env

    def _commands(self) -> dict[str, list[str]]:
        commands = processes(host=HOST, port=self.port)
        worker = _with_option(commands["chat"], "--queues", self.queue)
        return {"web": commands["web"], "worker": _with_option(worker, "--hostname", self.hostname)}

    @contextlib.contextmanager
    def running(self) -> Iterator[BenchProcesses]:
        """Started processes (not yet ready: see `wait_web`, `wait_worker`), stopped on exit."""
        try:
            self.start()
            yield self
        finally:
            self.stop()

    def start(self) -> None:
        """Start both processes (without waiting for them); logs go to `log_dir`."""
        env = self._env()
        for name, command in self._commands().items():
            log_path = self.log_dir / f"{name}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            self._children.append(_Child(name, process, log_path))

    def _check_alive(self) -> None:
        for child in self._children:
            child.check_alive()

    def wait_web(self, timeout: float = WEB_READY_SECONDS) -> None:
        """Return once the web server answers HTTP at all."""
        deadline = time.monotonic() + timeout
        while not _answers_http(self.port):
            self._check_alive()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"The web server did not answer on {self.base_url} in {timeout:g} s"
                )
            time.sleep(_POLL_SECONDS)

    def wait_worker(self, timeout: float) -> dict[str, Any]:
        """Return the worker's LLM status once its heartbeat says the model is loaded."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            beat = self._heartbeat()
            llm = {} if beat is None else beat.llm
            if llm.get("state") == "loaded":
                return llm
            if llm.get("state") == "failed":
                raise BenchError(f"The worker could not load the model: {llm.get('error')}")
            if time.monotonic() > deadline:
                state = "no heartbeat" if beat is None else f"model {llm.get('state')}"
                raise BenchError(
                    f"The chat worker was not ready within {timeout:g} s ({state}); its log "
                    f"({self.log_dir / 'worker.log'}) ends with:\n{self._children[-1].log_tail()}"
                )
            time.sleep(_POLL_SECONDS)

    def worker_log(self) -> str:
        """What the chat worker has logged so far."""
        try:
            return (self.log_dir / "worker.log").read_text(errors="replace")
        except OSError:
            return ""

    def _heartbeat(self) -> WorkerHeartbeat | None:
        return next((b for b in heartbeats_read() if b.hostname == self.hostname), None)

    def stop(self) -> None:
        """Stop the worker, then the web server, then drop the private queues' Redis keys."""
        for child in reversed(self._children):
            child.stop()
        self._children = []
        with contextlib.suppress(redis.RedisError):  # a few stale keys are harmless
            for queue in (self.queue, self.memory_queue):
                _queue_forget(queue)


def _queue_forget(queue: str) -> None:
    """Delete what kombu's Redis transport keeps for a queue (its messages and bindings),
    which would otherwise outlive the benchmark."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    client.delete(
        queue,
        f"_kombu.binding.{queue}",
        f"_kombu.binding_permanent.{queue}",
        *(f"{queue}\x06\x16{step}" for step in (3, 6, 9)),  # priority sub-queues
    )
    client.zrem("_kombu.binding_deadlines", queue)


def _answers_http(port: int) -> bool:
    client = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        client.request("GET", "/healthz")
        client.getresponse().read()
    except OSError:
        return False
    finally:
        client.close()
    return True
