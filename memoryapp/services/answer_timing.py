"""How long an answer's job took to send its first fragment, and what it waited for.

The chat worker logs one INFO line per answer once its first fragment has been handed to the
channel layer: the milliseconds of each stage since the job started (claim: the claim, the
waiting note and the stop flag; context: memory retrieval, recent turns and profile; prompt:
assembled and counted; model: until its first piece of text; send: the fragment to the
channel layer), and the job's start on the monotonic clock. On Linux that clock
(`time.perf_counter`) is the machine's, shared by its processes, so `chat_bench` lines the
worker's stages up with its own stamps of the request and of the websocket frame.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from uuid import UUID

logger = logging.getLogger(__name__)

STAGES = ("claim", "context", "prompt", "model", "send")
_LINE = re.compile(
    r"answer (?P<answer>[0-9a-f-]{36}): first fragment sent (?P<total>[\d.]+) ms into its job "
    r"\((?P<stages>[^;]*); job started at monotonic (?P<started>[\d.]+) s\)"
)
_STAGE = re.compile(r"(\w+) ([\d.]+) ms")


@dataclass(frozen=True)
class FirstFragment:
    """One answer's line: its job's start (monotonic seconds) and each stage's milliseconds."""

    answer_id: str
    started: float
    total_ms: float
    stages_ms: dict[str, float]


@dataclass
class FirstFragmentClock:
    """Marks the end of each stage of one answer's job until its first fragment is sent."""

    answer_id: UUID
    started: float = field(default_factory=time.perf_counter)
    _ends: dict[str, float] = field(default_factory=dict)

    def mark(self, stage: str) -> None:
        """`stage` ends now (only its first end counts)."""
        self._ends.setdefault(stage, time.perf_counter())

    def sent(self) -> None:
        """The first fragment is sent: log the stages, once."""
        if "send" in self._ends:
            return
        self.mark("send")
        previous = self.started
        parts = []
        for stage in STAGES:
            if stage in self._ends:
                parts.append(f"{stage} {(self._ends[stage] - previous) * 1000:.1f} ms")
                previous = self._ends[stage]
        logger.info(
            "answer %s: first fragment sent %.1f ms into its job (%s; job started at "
            "monotonic %.6f s)",
            self.answer_id,
            (self._ends["send"] - self.started) * 1000,
            ", ".join(parts),
            self.started,
        )


def first_fragments(log: str) -> dict[str, FirstFragment]:
    """The first-fragment lines in a worker's log, by answer id."""
    found = {}
    for match in _LINE.finditer(log):
        stages = {name: float(ms) for name, ms in _STAGE.findall(match["stages"])}
        found[match["answer"]] = FirstFragment(
            answer_id=match["answer"],
            started=float(match["started"]),
            total_ms=float(match["total"]),
            stages_ms=stages,
        )
    return found
