"""Runs the processes of `make run` side by side and keeps them running.

Each line a process writes is printed with its name in front (honcho's format). A process
that exits is started again after a delay that doubles with each quick exit, up to a cap,
and starts again from the first delay once the process has stayed up a while; the rest of
the stack is left alone. SIGINT or SIGTERM (Ctrl-C) stops them all: SIGTERM first, SIGKILL
for any still running after `stop_timeout` seconds (or at a second Ctrl-C).

Every process runs in a session of its own, so the terminal's Ctrl-C reaches only the
supervisor, which then stops them itself, instead of seeing them all die and restarting them.
"""

from __future__ import annotations

import contextlib
import datetime
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol

from honcho.colour import get_colours
from honcho.printer import Message, Printer

SYSTEM = "system"
POLL_SECONDS = 0.1


class Output(Protocol):
    def write(self, text: str, /) -> int: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait before a restart: `first`, doubling while the process keeps exiting
    sooner than `reset_after` seconds after its start, never more than `cap`."""

    first: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, *, previous: float | None, uptime: float) -> float:
        if previous is None or uptime >= self.reset_after:
            return self.first
        return min(previous * 2, self.cap)


@dataclass(frozen=True)
class _Run:
    """One start of a process: the process, the thread printing its output, when it began."""

    process: subprocess.Popen[bytes]
    relay: threading.Thread
    started_at: float


@dataclass
class _Child:
    name: str
    command: Sequence[str]
    colour: str
    run: _Run | None = None
    delay: float | None = None  # before the last restart
    restart_at: float | None = None


class Supervisor:
    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        *,
        output: Output,
        cwd: Path | None = None,
        backoff: Backoff | None = None,
        stop_timeout: float = 10.0,
    ) -> None:
        colours = get_colours()
        self._children = [_Child(name, list(cmd), next(colours)) for name, cmd in commands.items()]
        self._printer = Printer(output=output, width=max(map(len, [SYSTEM, *commands])))
        self._print_lock = threading.Lock()
        self._cwd = cwd
        self._backoff = backoff or Backoff()
        self._stop_timeout = stop_timeout
        # Plain flags rather than Events: a signal handler must not take a lock that the
        # interrupted main thread may hold.
        self._stopping = False
        self._hurry = False  # asked twice (a second Ctrl-C): kill without waiting
        self._signal: str | None = None

    def run(self) -> int:
        """Start every process and keep them running until `stop()` or a signal; 0 once
        all have been stopped."""
        with self._signals_handled():
            for child in self._children:
                self._start(child)
            while not self._stopping:
                time.sleep(POLL_SECONDS)
                for child in self._children:
                    self._tend(child)
            if self._signal:
                self.say(f"{self._signal} received; stopping")
            self._stop_all()
        return 0

    def stop(self) -> None:
        """Ask `run()` to stop the processes and return (from any thread)."""
        self._hurry = self._stopping
        self._stopping = True

    def pid(self, name: str) -> int | None:
        """The pid of the process `name` while it runs."""
        child = next(child for child in self._children if child.name == name)
        return None if child.run is None else child.run.process.pid

    def say(self, text: str) -> None:
        self._print(SYSTEM, None, text)

    def _tend(self, child: _Child) -> None:
        if child.run is not None:
            code = child.run.process.poll()
            if code is not None:
                uptime = time.monotonic() - child.run.started_at
                self._forget(child, child.run)
                self._schedule_restart(child, uptime, f"exited with {code}")
        elif child.restart_at is not None and time.monotonic() >= child.restart_at:
            self._start(child)

    def _schedule_restart(self, child: _Child, uptime: float, what: str) -> None:
        child.delay = self._backoff.delay(previous=child.delay, uptime=uptime)
        child.restart_at = time.monotonic() + child.delay
        self.say(f"{child.name} {what}; restarting in {child.delay:g}s")

    def _start(self, child: _Child) -> None:
        child.restart_at = None
        try:
            process = subprocess.Popen(  # noqa: S603 - our own commands
                child.command,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._schedule_restart(child, 0, f"could not start ({exc})")
            return
        relay = threading.Thread(target=self._relay, args=(child, process), daemon=True)
        child.run = _Run(process, relay, time.monotonic())
        relay.start()
        self.say(f"{child.name} started (pid {process.pid})")

    def _relay(self, child: _Child, process: subprocess.Popen[bytes]) -> None:
        if process.stdout is None:
            return
        with process.stdout as stream:
            for line in iter(stream.readline, b""):
                self._print(child.name, child.colour, line.decode(errors="replace"))

    def _forget(self, child: _Child, run: _Run) -> None:
        """Forget an exited process, once its last lines are printed."""
        run.relay.join(1)  # a grandchild may hold the pipe open: don't wait for it
        child.run = None

    def _stop_all(self) -> None:
        runs = [(child, child.run) for child in self._children if child.run is not None]
        self.say("sending SIGTERM to " + ", ".join(child.name for child, _ in runs))
        for _, run in runs:
            run.process.terminate()
        deadline = time.monotonic() + self._stop_timeout
        while runs and time.monotonic() < deadline and not self._hurry:
            time.sleep(POLL_SECONDS)
            runs = [(child, run) for child, run in runs if not self._ended(child, run)]
        for child, run in runs:
            if run.process.poll() is None:
                self.say(
                    f"{child.name} did not stop within {self._stop_timeout:g}s; sending SIGKILL"
                )
                run.process.kill()
                run.process.wait()
            self._ended(child, run)

    def _ended(self, child: _Child, run: _Run) -> bool:
        """Whether the process has exited (then reported and forgotten)."""
        code = run.process.poll()
        if code is None:
            return False
        self._forget(child, run)
        self.say(f"{child.name} stopped (exit {code})")
        return True

    def _print(self, name: str, colour: str | None, text: str) -> None:
        message = Message("line", text, datetime.datetime.now(), name, colour)  # noqa: DTZ005 - the terminal's clock
        with self._print_lock:
            self._printer.write(message)

    @contextlib.contextmanager
    def _signals_handled(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # only the main thread receives signals
            return

        def on_signal(signum: int, frame: FrameType | None) -> None:
            self._signal = self._signal or signal.Signals(signum).name
            self.stop()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
