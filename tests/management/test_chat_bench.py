"""`chat_bench` end to end. Runs real processes: the command starts daphne and a Celery chat
worker on the test database, and both paths generate with the demo model in llama.cpp."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from memoryapp.models import Conversation

pytestmark = pytest.mark.integration

NUMBER = r"\d+(\.\d+)?"


def test_it_prints_both_paths_their_ratio_and_the_model_then_cleans_up(
    transactional_db: None,
) -> None:
    out = io.StringIO()

    call_command("chat_bench", "--runs", "1", "--max-tokens", "8", stdout=out)

    lines = out.getvalue().splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("path "))
    assert re.fullmatch(
        r"path\s+median TTFT ms\s+median tokens/s\s+median tokens\s+runs", lines[table]
    )
    for row, path in zip(lines[table + 1 : table + 3], ("direct", "round trip"), strict=True):
        assert re.fullmatch(rf"{path}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+1", row), row
    assert re.fullmatch(
        rf"ratio \(round trip / direct\): TTFT {NUMBER}, tokens/s {NUMBER}", lines[table + 3]
    )
    assert lines[table + 4].startswith("TTFT min/max direct: ")
    assert lines[table + 5].startswith("TTFT min/max round trip: ")
    assert re.fullmatch(r"model: \S+ \(demo model: (yes|no)\)", lines[-1])
    assert not User.objects.filter(username__startswith="chat-bench-").exists()
    assert not Conversation.objects.exists()
