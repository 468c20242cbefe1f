"""Benchmarks: commands that print timing numbers (never tests that assert them).

`manage.py chat_bench` compares an answer's full round trip (web, queue, worker, websocket)
with the same model called directly; the pieces it is built from live here.
"""

from __future__ import annotations


class BenchError(Exception):
    """A benchmark could not start or measure; the message says why, for the person running it."""
