"""memoryapp running for real: the web server plus at most one chat worker behind it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import redis
from django.conf import settings

from tests.support.scripted_llm import scripted_worker_env
from tests.support.webserver import WebServer
from tests.support.workers import WorkerProcess


class LiveStack:
    """daphne on the test database, and a chat worker started on demand.

    The stack has queues of its own, so tasks of other tests' workers never mix with its
    answers. The real model's worker serves only the chat queue (memory jobs the answers
    queue are dropped when the stack stops); a scripted worker serves the memory queue too,
    for the titles it suggests, with memory's own model calls off (MEMORY_LLM=off) so that
    they take none of the scripted replies. Only one chat worker runs at a time, the real
    llama.cpp one or a scripted one, because both would take answers from the same queue.
    `settings_env` is given to every process (CHAT_MESSAGE_MAX_CHARS, CHAT_ANSWER_MAX_TOKENS,
    ...).
    """

    def __init__(self, settings_env: dict[str, str] | None = None) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.settings_env = {
            "CHAT_QUEUE": f"live-chat-{suffix}",
            "MEMORY_QUEUE": f"live-memory-{suffix}",
            **(settings_env or {}),
        }
        self.chat_queue = self.settings_env["CHAT_QUEUE"]
        self.server = WebServer(env=self.settings_env)
        self.url = self.server.url
        self.worker: WorkerProcess | None = None
        self.worker_is_scripted = False

    def start(self, *, with_llm_worker: bool = False) -> LiveStack:
        """Start the web server, and the real model's worker meanwhile if asked to."""
        self.server.launch()
        try:
            if with_llm_worker:
                self.llm_worker()
            self.server.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def llm_worker(self) -> WorkerProcess:
        """The worker with the real small model, started (and loaded) unless running."""
        if self.worker is not None and not self.worker_is_scripted:
            return self.worker
        return self._start_worker(WorkerProcess([self.chat_queue], env=self.settings_env), False)

    def scripted_worker(self, replies: Sequence[str], *, delay: float = 0.0) -> WorkerProcess:
        """A new worker whose model replays `replies` (see tests.support.scripted_llm): the
        answers, and the title suggested after the first one."""
        worker = WorkerProcess(
            [self.chat_queue, self.settings_env["MEMORY_QUEUE"]],
            env={
                **self.settings_env,
                "MEMORY_LLM": "off",
                **scripted_worker_env(replies, delay=delay),
            },
            include=["tests.support.scripted_llm"],
        )
        return self._start_worker(worker, True)

    def _start_worker(self, worker: WorkerProcess, scripted: bool) -> WorkerProcess:
        self.stop_worker()
        self.worker, self.worker_is_scripted = worker, scripted
        worker.start()
        worker.wait_for(worker.models_loaded, 120, "models loaded")
        return worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        self.server.stop()
        self._queues_delete()

    def _queues_delete(self) -> None:
        """Remove the stack's queues (and jobs left in them) from Redis."""
        client = redis.Redis.from_url(settings.REDIS_URL)
        for queue in (self.chat_queue, self.settings_env["MEMORY_QUEUE"]):
            keys = list(client.scan_iter(match=f"*{queue}*"))
            if keys:
                client.delete(*keys)
