"""The made-up ChatGPT export of the import benchmark reads as a real one does."""

from __future__ import annotations

from pathlib import Path

from memoryapp.benchmarks.chatgpt_export import chatgpt_export_write
from memoryapp.services.memory.chatgpt import chatgpt_read


def test_it_is_read_as_a_chatgpt_export_with_short_conversations(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"

    kept = chatgpt_export_write(path, conversations=40, seed=3)

    read = chatgpt_read(path=path, speaker="bench")
    assert len(read.conversations) == 40
    assert sum(len(c.messages) for c in read.conversations) == kept
    assert all(6 <= len(c.messages) <= 10 for c in read.conversations)
    texts = [m.content for c in read.conversations for m in c.messages]
    assert not any("never mind" in text or "print(" in text for text in texts)


def test_it_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"

    chatgpt_export_write(first, conversations=5, seed=7)
    chatgpt_export_write(second, conversations=5, seed=7)

    assert first.read_bytes() == second.read_bytes()
