"""The process supervisor behind `make run`, with tiny real processes (`python -c`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import pytest

from memoryapp.devstack.supervisor import Backoff, Supervisor
from tests.support.workers import PROJECT_DIR

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"]
CRASHER = [sys.executable, "-c", "import sys; sys.exit(3)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ignoring SIGTERM', flush=True); time.sleep(600)",
]
QUICK = Backoff(first=0.05, cap=0.2, reset_after=60)


class Lines:
    """A file-like sink the supervisor writes to, read as lines from the test's thread."""

    def __init__(self) -> None:
        self._text = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._text += text
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""

    def isatty(self) -> bool:
        return False

    def all(self) -> list[str]:
        with self._lock:
            return self._text.splitlines()

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 30) -> list[str]:
        """The lines matching `pattern`, once there are `count` of them (a liveness wait)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.all() if re.search(pattern, line)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {count} x {pattern!r} in:\n" + "\n".join(self.all()))
            time.sleep(0.02)


@contextmanager
def supervising(
    commands: Mapping[str, Sequence[str]],
    *,
    backoff: Backoff | None = None,
    stop_timeout: float = 10.0,
) -> Iterator[tuple[Supervisor, Lines, Callable[[], int]]]:
    """A supervisor running in a thread; yields it, its output and `stop()` (which returns
    what `run()` returned). Stopped at the end in any case."""
    lines = Lines()
    supervisor = Supervisor(
        commands, output=lines, cwd=PROJECT_DIR, backoff=backoff, stop_timeout=stop_timeout
    )
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run()), daemon=True)
    thread.start()

    def stop() -> int:
        supervisor.stop()
        thread.join(30)
        assert not thread.is_alive(), "run() did not return after stop()"
        return result[0]

    try:
        yield supervisor, lines, stop
    finally:
        if thread.is_alive():
            stop()


def _started_pid(lines: Lines, name: str, *, count: int = 1) -> int:
    found = lines.wait_for(rf"{name} started \(pid \d+\)", count=count)
    match = re.search(r"pid (\d+)", found[count - 1])
    assert match is not None
    return int(match.group(1))


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_each_line_of_output_is_prefixed_with_its_process_name() -> None:
    with supervising({"web": SLEEPER, "chat": SLEEPER}) as (_, lines, _stop):
        lines.wait_for(r"\| up$", count=2)

    assert any(re.fullmatch(r"\d\d:\d\d:\d\d web\s+\| up", line) for line in lines.all())
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d chat\s+\| up", line) for line in lines.all())


def test_a_killed_process_is_restarted_and_the_others_keep_running() -> None:
    with supervising({"chat": SLEEPER, "web": SLEEPER}, backoff=QUICK) as (sup, lines, _stop):
        chat, web = _started_pid(lines, "chat"), _started_pid(lines, "web")

        os.kill(chat, signal.SIGKILL)

        lines.wait_for(r"chat exited with -9; restarting in 0\.05s")
        restarted = _started_pid(lines, "chat", count=2)
        assert restarted != chat
        assert sup.pid("chat") == restarted
        assert sup.pid("web") == web and _exists(web)
        assert not any("web exited" in line for line in lines.all())


def test_the_delay_doubles_up_to_its_cap_while_a_process_keeps_crashing() -> None:
    with supervising({"crasher": CRASHER}, backoff=QUICK) as (_, lines, _stop):
        exits = lines.wait_for(r"crasher exited with 3; restarting in", count=5)

    delays = [line.rsplit(" ", 1)[1] for line in exits[:5]]
    assert delays == ["0.05s", "0.1s", "0.2s", "0.2s", "0.2s"]


def test_the_delay_starts_again_once_a_process_has_stayed_up_a_while() -> None:
    backoff = Backoff(first=1, cap=30, reset_after=60)

    assert backoff.delay(previous=None, uptime=0) == 1
    assert backoff.delay(previous=1, uptime=5) == 2
    assert backoff.delay(previous=16, uptime=5) == 30
    assert backoff.delay(previous=30, uptime=59) == 30
    assert backoff.delay(previous=30, uptime=60) == 1


def test_stop_ends_every_process_and_no_restart_follows() -> None:
    with supervising({"web": SLEEPER, "crasher": CRASHER}, backoff=QUICK) as (_, lines, stop):
        web = _started_pid(lines, "web")
        lines.wait_for(r"crasher exited with 3")

        assert stop() == 0

    assert not _exists(web)
    stopped_at = next(i for i, line in enumerate(lines.all()) if "sending SIGTERM" in line)
    assert not any("started" in line for line in lines.all()[stopped_at:])


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    with supervising({"stubborn": STUBBORN}, stop_timeout=0.5) as (_, lines, stop):
        pid = _started_pid(lines, "stubborn")
        lines.wait_for(r"\| ignoring SIGTERM")

        assert stop() == 0

    assert not _exists(pid)
    lines.wait_for(r"stubborn did not stop within 0\.5s; sending SIGKILL")


SUPERVISOR_MAIN = """
import sys
from memoryapp.devstack.supervisor import Supervisor
sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
sys.exit(Supervisor({"sleeper": sleeper}, output=sys.stdout).run())
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_or_sigterm_stops_everything_cleanly(sig: signal.Signals) -> None:
    main = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR_MAIN],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert main.stdout is not None
    line = main.stdout.readline()
    match = re.search(r"sleeper started \(pid (\d+)\)", line)
    assert match is not None, line
    child = int(match.group(1))

    main.send_signal(sig)
    output, _ = main.communicate(timeout=30)

    assert main.returncode == 0, output
    assert f"{sig.name} received; stopping" in output
    assert not _exists(child)
