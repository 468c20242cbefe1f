"""The fault drill: a whole stack on scratch servers, broken on purpose, one fault at a time.

Each step says what it did and what a person would have seen: how long until /healthz is
green again, what a message sent during the fault got back, and how long the next answer
took. `make manage ARGS="fault_drill"` runs it; nothing of the `make run` data is touched.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from memoryapp.devstack.live import RunStack, StackError, Visitor, run_stack
from memoryapp.devstack.services import EmbeddedPostgres, EmbeddedRedis

T = TypeVar("T")

# Answers long enough to be interrupted, short enough for a drill; frequent heartbeats, so
# /healthz notices a dead worker within seconds.
DRILL_ENV = {"CHAT_ANSWER_MAX_TOKENS": "96", "WORKER_HEARTBEAT_SECONDS": "1"}
FIRST_START_SECONDS = 600
RECOVERY_SECONDS = 120
OUTAGE_SECONDS = 30
# Recovery times are measured to this resolution.
POLL_SECONDS = 0.25
QUESTION = "Say hello."
LONG_QUESTION = "Tell me a long story about a lighthouse keeper and the sea."


@dataclass
class _Clock:
    started: float

    @classmethod
    def start(cls) -> _Clock:
        return cls(time.monotonic())

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class Drill:
    """One stack, one owner, one conversation; each method breaks something and reports."""

    def __init__(self, stack: RunStack, say: Callable[[str], None]) -> None:
        self.stack = stack
        self.say = say
        self.visitor = Visitor(stack.url)
        self.conversation = ""

    def start(self) -> None:
        clock = _Clock.start()
        setup_url = self.stack.wait_for_output(r"(http://\S+/setup/\S+/)", FIRST_START_SECONDS)[1]
        self.stack.wait_until("/healthz 200", self._healthy, FIRST_START_SECONDS)
        self.say(f"stack started on scratch servers: /healthz 200 after {clock.seconds:.1f}s")
        self.visitor.sign_up_as_owner(setup_url, "drill", "a long drill passphrase 13")
        self.conversation = self.visitor.new_conversation()
        self._answer("before any fault")

    def kill(self, name: str) -> None:
        killed = self.stack.pid_of(name)
        if killed is None:
            raise StackError(f"no {name} process found")
        clock = _Clock.start()
        os.kill(killed, signal.SIGKILL)
        restarted = self._wait(f"new {name} process", lambda: self._new_pid(name, killed), 60)
        restarted_after = clock.seconds
        self._wait_healthy(lambda report: killed not in _worker_pids(report))
        self.say(
            f"kill -9 {name} (pid {killed}): restarted as pid {restarted} after "
            f"{restarted_after:.1f}s; /healthz 200 without the dead process after "
            f"{clock.seconds:.1f}s"
        )
        self._answer(f"after the {name} kill")

    def kill_mid_answer(self) -> None:
        """kill -9 the chat worker while it writes an answer: the answer must come back."""
        sent = self._send(LONG_QUESTION)
        if not sent.answer:
            raise StackError(f"the question was not taken: {sent.summary}")
        self._wait("the answer to stream", lambda: self._status(sent.answer) == "streaming", 120)
        killed = self.stack.pid_of("chat")
        if killed is None:
            raise StackError("no chat process found")
        clock = _Clock.start()
        os.kill(killed, signal.SIGKILL)
        status = self._wait("the interrupted answer", lambda: self._finished(sent.answer), 180)
        self.say(
            f"kill -9 chat (pid {killed}) while it wrote an answer: the answer was taken up "
            f"again and {status} {clock.seconds:.1f}s after the kill"
        )

    def restart_redis(self) -> None:
        redis = EmbeddedRedis(self.stack.var_dir / "redis", self.stack.redis_port)
        with self._outage("Redis", redis.stop, redis.start) as sent:
            self.say(f"  a message sent meanwhile: {sent.summary}")
        if sent.answer:
            clock = _Clock.start()
            status = self._wait("the queued answer", lambda: self._finished(sent.answer), 180)
            self.say(f"  the answer queued during the outage: {status} {clock.seconds:.1f}s later")
        self._answer("after the Redis restart")

    def restart_postgres(self) -> None:
        postgres = EmbeddedPostgres(self.stack.var_dir / "postgres", self.stack.postgres_port)
        with self._outage("Postgres", postgres.stop, postgres.start) as sent:
            self.say(f"  a message sent meanwhile: {sent.summary}")
        self._answer("after the Postgres restart")

    @contextmanager
    def _outage(
        self, server: str, stop: Callable[[], None], start: Callable[[], None]
    ) -> Iterator[_Sent]:
        stop()
        clock = _Clock.start()
        self._wait("/healthz 503", lambda: self.visitor.health()[0] == 503, OUTAGE_SECONDS)
        self.say(f"{server} stopped: /healthz 503 after {clock.seconds:.1f}s")
        yield self._send("Are you there?")
        start()
        clock = _Clock.start()
        self._wait_healthy(lambda report: True)
        self.say(f"{server} started again: /healthz 200 after {clock.seconds:.1f}s")

    def _send(self, text: str) -> _Sent:
        clock = _Clock.start()
        try:
            status, _, body = self.visitor.post(
                f"/c/{self.conversation}/messages", {"content": text}
            )
        except OSError as exc:
            return _Sent(0, clock.seconds, f"no response ({exc})", "")
        answer = re.search(r'id="msg-([0-9a-f-]{36})" class="msg msg-assistant', body)
        said = re.sub(r"<[^>]+>|\s+", " ", body).strip()[:160] if status != 200 else ""
        return _Sent(status, clock.seconds, said, answer[1] if answer else "")

    def _answer(self, when: str) -> None:
        clock = _Clock.start()
        frames = self.visitor.ask(self.conversation, QUESTION)
        final = re.search(r"status-(\w+)", frames[-1])
        streamed = sum('id="stream-' in frame for frame in frames[:-1])
        status = final[1] if final else "unknown"
        self.say(
            f"  an answer {when}: {status} in {clock.seconds:.1f}s ({streamed} streamed pieces)"
        )

    def _status(self, answer: str) -> str:
        status, _, body = self.visitor.get(f"/m/{answer}/")
        found = re.search(rf'id="msg-{answer}" class="[^"]*status-(\w+)', body)
        return found[1] if status == 200 and found else ""

    def _finished(self, answer: str) -> str | None:
        status = self._status(answer)
        return status if status in ("done", "failed", "stopped") else None

    def _wait(self, what: str, condition: Callable[[], T | None], timeout: float) -> T:
        return self.stack.wait_until(what, condition, timeout, every=POLL_SECONDS)

    def _new_pid(self, name: str, killed: int) -> int | None:
        pid = self.stack.pid_of(name)
        return None if pid == killed else pid

    def _healthy(self) -> bool:
        return self.visitor.health()[0] == 200

    def _wait_healthy(self, also: Callable[[dict[str, Any]], bool]) -> None:
        def ready() -> bool:
            status, report = self.visitor.health()
            return status == 200 and also(report)

        self.stack.wait_until("/healthz 200", ready, RECOVERY_SECONDS)


@dataclass(frozen=True)
class _Sent:
    status: int
    seconds: float
    said: str
    answer: str

    @property
    def summary(self) -> str:
        outcome = f"HTTP {self.status} in {self.seconds:.1f}s"
        if self.answer:
            outcome += ", message kept and its answer queued"
        return outcome + (f': "{self.said}"' if self.said else "")


def _worker_pids(report: dict[str, Any]) -> set[int]:
    queues = report.get("queues", {})
    return {worker["pid"] for queue in queues.values() for worker in queue.get("workers", [])}


def fault_drill(say: Callable[[str], None], *, keep: bool = False) -> int:
    """Run every fault in turn on a fresh stack; 0 when the stack came back from each."""
    scratch = Path(tempfile.mkdtemp(prefix="memoryapp-drill-"))
    say(f"scratch stack in {scratch} (its log: {scratch / 'run.log'})")
    with run_stack(scratch / "var", DRILL_ENV) as stack:
        drill = Drill(stack, say)
        try:
            drill.start()
            drill.kill_mid_answer()
            for name in ("chat", "memory", "web", "beat"):
                drill.kill(name)
            drill.restart_redis()
            drill.restart_postgres()
        except (StackError, TimeoutError, RuntimeError) as exc:
            say(f"FAILED: {exc}")
            return 1
        finally:
            clock = _Clock.start()
            code = stack.stop()
            left = stack.servers_left_running()
            say(
                f"stack stopped with SIGTERM: exit {code} after {clock.seconds:.1f}s, "
                f"{'nothing' if not left else ', '.join(left)} left running"
            )
    if not keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0
