"""The import benchmark's histories: real turns of LoCoMo and LongMemEval, replicated to any
length with fresh dates, names and external ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.scale.histories import START, read_sources, replicated_history
from tests.evaluation.samples import LOCOMO_SAMPLE, LONGMEMEVAL, write_json


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return (
        write_json(tmp_path / "locomo.json", [LOCOMO_SAMPLE]),
        write_json(tmp_path / "lme.json", LONGMEMEVAL),
    )


def test_the_history_has_exactly_the_messages_asked_for_from_both_sources(
    files: tuple[Path, Path],
) -> None:
    sources = read_sources(*files)
    # LongMemEval's haystacks share no session here: s1, s2, s3, s4 once each.
    assert (len(sources.locomo), len(sources.longmemeval)) == (2, 4)

    conversations = replicated_history(sources, 37, np.random.default_rng(0))

    messages = [m for c in conversations for m in c.messages]
    assert len(messages) == 37
    kinds = [m.external_id.partition(":")[0] for m in messages]
    assert abs(kinds.count("locomo") - kinds.count("longmemeval")) <= 4
    assert len({m.external_id for m in messages}) == 37


def test_replicas_get_fresh_names_in_their_text_and_fresh_dates(
    files: tuple[Path, Path],
) -> None:
    sources = read_sources(files[0], None)

    conversations = replicated_history(sources, 30, np.random.default_rng(1))

    messages = [m for c in conversations for m in c.messages]
    texts = " ".join(f"{m.speaker} {m.content}" for m in messages)
    assert "Ann" not in texts.split() and "Bob" not in texts.split()
    pixel = [m for m in messages if "adopted a dog named Pixel" in m.content]
    # Each replica of the session is said by another person.
    assert len({m.speaker for m in pixel}) == len(pixel) > 1
    times = [m.created_at for m in messages]
    assert times == sorted(times) and times[0] == START
    assert len(set(times)) == len(times)
    # A person's turns keep who said them: speakers of a conversation are two people.
    assert all(len({m.speaker for m in c.messages}) <= 2 for c in conversations)


def test_the_same_seed_gives_the_same_history(files: tuple[Path, Path]) -> None:
    sources = read_sources(*files)

    first, second = (replicated_history(sources, 20, np.random.default_rng(5)) for _ in range(2))

    assert first == second


def test_files_without_sessions_are_refused(tmp_path: Path) -> None:
    empty = write_json(tmp_path / "lme.json", [])

    with pytest.raises(BenchError, match="no sessions"):
        read_sources(None, empty)


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    wrong = write_json(tmp_path / "locomo.json", {"not": "locomo"})

    with pytest.raises(BenchError, match="is not a LoCoMo file"):
        read_sources(wrong, None)
