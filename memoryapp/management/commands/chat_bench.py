"""Times an answer's full round trip (web, queue, worker, websocket) against the bare model,
optionally with a memory of many messages that the questions are about. Runs on scratch
servers it starts and deletes."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.direct import direct_run, worker_prompt
from memoryapp.benchmarks.memory_history import (
    MemoryQuestion,
    memory_history,
    memory_import,
    memory_questions,
    turn_in_context,
)
from memoryapp.benchmarks.processes import BenchProcesses
from memoryapp.benchmarks.round_trip import RoundTrip, Trip, bench_user
from memoryapp.benchmarks.timing import (
    WEB_AND_QUEUE,
    WEBSOCKET,
    BenchResults,
    Timing,
    load_averages,
)
from memoryapp.devstack.scratch import Scratch, ScratchError
from memoryapp.llm import LLM, LLMError, get_llm
from memoryapp.services.answer_timing import first_fragments

DEFAULT_PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."
WORKER_READY_SECONDS = 120.0
WORKER_LOG_SECONDS = 5.0
# The command runs itself again on a scratch Postgres and Redis of its own: a memory of
# thousands of messages is built there, never in the person's database.
SCRATCH = Scratch(
    variable="MEMORYAPP_CHAT_BENCH_SCRATCH_DATABASE",
    database="memoryapp_chat_bench",
    prefix="memoryapp-chat-bench-",
    redis=True,
)


def _data_dir() -> Path:
    return Path(settings.BASE_DIR).parent / "shared" / "data"


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def _not_negative(value: str) -> int:
    number = int(value)
    if number < 0:
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
        parser.add_argument(
            "--prompt",
            help="the user's message (default: a short story; not with --memory-messages)",
        )
        parser.add_argument(
            "--memory-messages",
            type=_not_negative,
            default=0,
            help="first give the bench user a memory of this many messages, built as an "
            "import builds it, and ask about them (default 0: no memory)",
        )
        parser.add_argument(
            "--locomo",
            type=Path,
            default=_data_dir() / "locomo" / "locomo_dev.json",
            help="with --memory-messages: a LoCoMo file whose sessions are replicated",
        )
        parser.add_argument(
            "--longmemeval",
            type=Path,
            default=_data_dir() / "longmemeval" / "longmemeval_s_dev.json.gz",
            help="with --memory-messages: a LongMemEval file whose sessions are replicated",
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the history and questions")

    def handle(
        self,
        *args: Any,
        runs: int,
        max_tokens: int,
        prompt: str | None,
        memory_messages: int,
        **options: Any,
    ) -> None:
        self._verbose = options["verbosity"] >= 1
        if prompt is not None and not prompt.strip():
            raise CommandError("--prompt must not be empty")
        if prompt is not None and memory_messages:
            raise CommandError("--prompt and --memory-messages: the questions are about memory")
        if memory_messages:
            for name in ("locomo", "longmemeval"):
                if not options[name].is_file():
                    raise CommandError(f"--{name} {options[name]}: no such file")
        if not SCRATCH.in_scratch_database():
            arguments = [
                *("--runs", str(runs), "--max-tokens", str(max_tokens)),
                *("--memory-messages", str(memory_messages), "--seed", str(options["seed"])),
                *("--locomo", str(options["locomo"].resolve())),
                *("--longmemeval", str(options["longmemeval"].resolve())),
                *("--verbosity", str(options["verbosity"])),
                *(() if prompt is None else ("--prompt", prompt)),
            ]
            begin = time.monotonic()
            try:
                SCRATCH.rerun(["chat_bench", *arguments], write=self.stdout.write)
            except ScratchError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"scratch servers deleted; {time.monotonic() - begin:.0f} s in all")
            return
        # As `make run` prepares its database and static files.
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        llm = get_llm()
        try:
            # Exits in reverse: the processes stop before the user and its answers go.
            with bench_user() as (user, session_key):
                questions = (
                    self._memory(user, memory_messages, runs + 1, options)
                    if memory_messages
                    else None
                )
                with self._processes(max_tokens) as processes:
                    self._wait_ready(processes, llm)
                    round_trip = RoundTrip(
                        base_url=processes.base_url,
                        owner=user,
                        session_key=session_key,
                        count_tokens=llm.count_tokens,
                        timeout=settings.LLM_TIMEOUT_SECONDS + 30,
                    )
                    self.stdout.write(f"timing {runs} runs; {load_averages()}")
                    bench = _Bench(round_trip, processes, llm, max_tokens, self._say)
                    if questions is None:
                        texts = [
                            _run_prompt(prompt or DEFAULT_PROMPT, run) for run in range(runs + 1)
                        ]
                        results = bench.runs(texts)
                    else:
                        results = bench.runs([q.text for q in questions], questions)
                self.stdout.write(f"timed; {load_averages()}")
            info = llm.info
        except (BenchError, LLMError) as exc:
            raise CommandError(str(exc)) from exc
        what = (
            "system prompt + a new user message each run"
            if questions is None
            else "system prompt, memory and a question about the history each run"
        )
        for line in results.lines(prompt=what):
            self.stdout.write(line)
        if questions is not None:
            self.stdout.write(
                f"questions: {runs} about the imported history; the turn asked about was in "
                f"the answer's memory context in {bench.hits} of {runs} runs"
            )
        self.stdout.write(f"model: {info.name} (demo model: {'yes' if info.is_demo else 'no'})")

    def _memory(
        self, user: User, messages: int, count: int, options: dict[str, Any]
    ) -> list[MemoryQuestion]:
        """Build the user's memory of `messages` messages; `count` questions about it."""
        history = memory_history(
            locomo=options["locomo"],
            longmemeval=options["longmemeval"],
            messages=messages,
            seed=options["seed"],
        )
        self.stdout.write(f"building a memory of {messages:,} messages; {load_averages()}")
        built = memory_import(owner=user, conversations=history)
        self.stdout.write(f"{built.describe()}; {load_averages()}")
        questions = memory_questions(history, count=count, seed=options["seed"])
        if not questions:
            raise BenchError("the history has no person's turn to ask a question about")
        # Fewer turns to ask about than runs (a tiny history): the questions come round again.
        return [questions[i % len(questions)] for i in range(count)]

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


class _Bench:
    """Timed pairs: a round trip, then the model directly on the very messages the worker
    built for it, with the worker's stages read from its log."""

    def __init__(
        self,
        round_trip: RoundTrip,
        processes: BenchProcesses,
        llm: LLM,
        max_tokens: int,
        say: Callable[[str], None],
    ) -> None:
        self._round_trip = round_trip
        self._processes = processes
        self._llm = llm
        self._max_tokens = max_tokens
        self._say = say
        self.hits = 0

    def runs(self, texts: list[str], questions: list[MemoryQuestion] | None = None) -> BenchResults:
        """The first of `texts` warms up, the others are timed; with `questions` (one per
        text), `hits` counts the timed runs whose answer was given the turn asked about."""
        self._pair(texts[0])
        self._say(f"warmed up; at most {self._max_tokens} tokens per answer")
        results = BenchResults()
        runs = len(texts) - 1
        for run, text in enumerate(texts[1:], start=1):
            trip, direct, prompt_tokens, bench_retrieval_ms = self._pair(text)
            stages = self._stages(trip)
            results.add(
                direct=direct,
                round_trip=trip.timing,
                prompt_tokens=prompt_tokens,
                stages_ms=stages,
                bench_retrieval_ms=bench_retrieval_ms,
            )
            hit = ""
            if questions is not None:
                found = turn_in_context(answer=trip.answer, external_id=questions[run].external_id)
                self.hits += found
                hit = f"; turn asked about in context: {'yes' if found else 'no'}"
            self._say(
                f"run {run}/{runs} ({prompt_tokens} prompt tokens): direct {_describe(direct)}; "
                f"round trip {_describe(trip.timing)}; retrieval {stages['context']:.0f} ms{hit}"
            )
        return results

    def _pair(self, text: str) -> tuple[Trip, Timing, int, float]:
        """(round trip, direct run, prompt tokens, ms of the retrieval in this process)."""
        trip = self._round_trip.run(text)
        started = time.perf_counter()
        messages = worker_prompt(llm=self._llm, answer=trip.answer, max_tokens=self._max_tokens)
        retrieval_ms = (time.perf_counter() - started) * 1000
        direct = direct_run(llm=self._llm, messages=messages, max_tokens=self._max_tokens)
        return trip, direct, self._llm.count_message_tokens(messages), retrieval_ms

    def _stages(self, trip: Trip) -> dict[str, float]:
        """Milliseconds from the post to the first fragment, by stage (`timing.WEB_AND_QUEUE`,
        the worker's logged stages, `timing.WEBSOCKET`)."""
        answer_id = str(trip.answer.pk)
        deadline = time.monotonic() + WORKER_LOG_SECONDS
        while (line := first_fragments(self._processes.worker_log()).get(answer_id)) is None:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"The chat worker logged no first-fragment line for answer {answer_id} "
                    f"(see {self._processes.log_dir / 'worker.log'})."
                )
            time.sleep(0.05)
        sent_at = line.started + line.total_ms / 1000
        return {
            WEB_AND_QUEUE: (line.started - trip.started) * 1000,
            **line.stages_ms,
            WEBSOCKET: (trip.first_fragment_at - sent_at) * 1000,
        }
