"""Times an answer's full round trip (web, queue, worker, websocket) against the bare model."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.direct import direct_run, worker_prompt
from memoryapp.benchmarks.processes import BenchProcesses
from memoryapp.benchmarks.round_trip import RoundTrip, bench_user
from memoryapp.benchmarks.timing import BenchResults, Timing
from memoryapp.llm import LLM, LLMError, get_llm

DEFAULT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
WORKER_READY_SECONDS = 120.0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _run_prompt(prompt: str, run: int) -> str:
    """The message of one run. llama.cpp skips the part of a prompt that starts like the
    previous one; a new start makes each run evaluate the user's message, as in real use."""
    return f"Request {run}: {prompt}"


def _describe(timing: Timing) -> str:
    return (
        f"TTFT {timing.first_token * 1000:.0f} ms, {timing.tokens} tokens, "
        f"{timing.tokens_per_second:.1f} tokens/s"
    )


class Command(BaseCommand):
    help = (
        "Median time to first token and tokens/s of an answer's full round trip through the "
        "web server, queue, chat worker and websocket, next to the same model called directly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=_positive, default=5, help="timed runs per path")
        parser.add_argument(
            "--max-tokens", type=_positive, default=64, help="tokens per answer, at most"
        )
        parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="the user's message")

    def handle(self, *args: Any, runs: int, max_tokens: int, prompt: str, **options: Any) -> None:
        self._verbose = options["verbosity"] >= 1
        if not prompt.strip():
            raise CommandError("--prompt must not be empty")
        llm = get_llm()
        try:
            # Exits in reverse: the processes stop before the user and its answers go.
            with bench_user() as (user, session_key), self._processes(max_tokens) as processes:
                self._wait_ready(processes, llm)
                round_trip = RoundTrip(
                    base_url=processes.base_url,
                    owner=user,
                    session_key=session_key,
                    count_tokens=llm.count_tokens,
                    timeout=settings.LLM_TIMEOUT_SECONDS + 30,
                )
                results = self._bench(round_trip, llm, runs, max_tokens, prompt)
            info = llm.info
        except (BenchError, LLMError) as exc:
            raise CommandError(str(exc)) from exc
        for line in results.lines():
            self.stdout.write(line)
        self.stdout.write(f"model: {info.name} (demo model: {'yes' if info.is_demo else 'no'})")

    def _say(self, text: str) -> None:
        if self._verbose:
            self.stdout.write(text)

    @contextlib.contextmanager
    def _processes(self, max_tokens: int) -> Iterator[BenchProcesses]:
        """The benchmark's web server and worker; their logs are kept only on failure."""
        log_dir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
        processes = BenchProcesses(
            answer_max_tokens=max_tokens, log_dir=log_dir, token=secrets.token_hex(4)
        )
        with processes.running():
            self._say(
                f"web server {processes.base_url} and chat worker {processes.hostname} "
                f"starting (logs in {log_dir})"
            )
            try:
                yield processes
            except BenchError as exc:
                raise BenchError(f"{exc}\nLogs of the web server and worker: {log_dir}") from exc
        shutil.rmtree(log_dir, ignore_errors=True)

    def _wait_ready(self, processes: BenchProcesses, llm: LLM) -> None:
        started = time.monotonic()
        llm.load()  # this process's copy of the model loads while the worker loads its own
        processes.wait_web()
        status = processes.wait_worker(WORKER_READY_SECONDS - (time.monotonic() - started))
        if status.get("model") != llm.info.name:
            self._say(f"warning: the worker loaded {status.get('model')}, not {llm.info.name}")
        self._say(f"ready after {time.monotonic() - started:.1f} s")

    def _pair(
        self, round_trip: RoundTrip, llm: LLM, text: str, max_tokens: int
    ) -> tuple[Timing, Timing, int]:
        """One round trip, then the model directly on the very messages the worker built for
        it; (direct, round trip, prompt tokens)."""
        trip, answer = round_trip.run(text)
        messages = worker_prompt(llm=llm, answer=answer, max_tokens=max_tokens)
        direct = direct_run(llm=llm, messages=messages, max_tokens=max_tokens)
        return direct, trip, llm.count_message_tokens(messages)

    def _bench(
        self, round_trip: RoundTrip, llm: LLM, runs: int, max_tokens: int, prompt: str
    ) -> BenchResults:
        """A warm-up pair, then `runs` timed pairs."""
        self._pair(round_trip, llm, _run_prompt(prompt, 0), max_tokens)
        self._say(f"warmed up; at most {max_tokens} tokens per answer")
        results = BenchResults()
        for run in range(1, runs + 1):
            direct, trip, prompt_tokens = self._pair(
                round_trip, llm, _run_prompt(prompt, run), max_tokens
            )
            results.add(direct=direct, round_trip=trip, prompt_tokens=prompt_tokens)
            self._say(
                f"run {run}/{runs} ({prompt_tokens} prompt tokens): direct {_describe(direct)}; "
                f"round trip {_describe(trip)}"
            )
        return results
