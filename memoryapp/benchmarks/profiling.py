"""cProfile around a benchmark's stage (`--profile FILE`): the statistics dumped to FILE, their
top printed by cumulative and by own time."""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

PROFILE_LINES = 30


@contextmanager
def profiled(path: Path | None, what: str, write: Callable[[str], None]) -> Iterator[None]:
    """Profile the block into `path` (nothing when None) and print the top of `what`."""
    if path is None:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)
        for order, label in (("cumulative", "cumulative time"), ("tottime", "own time")):
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(PROFILE_LINES)
            write(f"profile of {what} by {label} (all of it in {path}):")
            for line in text.getvalue().splitlines():
                if line.strip() and not line.startswith(("   Ordered by", "   List reduced")):
                    write(f"  {line}")
