"""Readers of dialogue topic segmentation data sets, told apart by their structure.

- TIAGE (github.com/HuiyuanXie/tiage, `anno_*.json`): an object mapping a dialogue id to a list
  of `[utterance, label]` pairs; label "1" means a new topic starts at that utterance, "0" it
  continues, "-1" marks the first utterance.
- DialSeg711 as standardised by lxing532/Dialogue-Topic-Segmenter: a list of objects with
  `dial_id`, `utterances` and `segments` (the segment lengths, summing to the utterance count).

Both become `Dialogue`s whose labels follow the metrics' convention: label i is 1 when a
boundary lies right after utterance i.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memoryapp.evaluation import EvaluationError


@dataclass(frozen=True)
class Dialogue:
    """One reference dialogue; `labels[i]` is 1 when a topic boundary follows utterance i."""

    id: str
    utterances: list[str]
    labels: list[int]


@dataclass(frozen=True)
class SegmentationData:
    """The dialogues of one file and the name of the format they were read from."""

    format: str
    dialogues: list[Dialogue]


def read_segmentation_file(path: Path) -> SegmentationData:
    """Read a TIAGE or DialSeg711 file; raises `EvaluationError` on anything else."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvaluationError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{path} is not JSON: {exc}") from exc
    return parse_segmentation_data(data, source=str(path))


def parse_segmentation_data(data: Any, *, source: str = "data") -> SegmentationData:
    """Dialogues from already decoded JSON, the format detected from its structure."""
    try:
        parsed = _parse(data)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{source}: {exc}") from exc
    if parsed is None:
        raise EvaluationError(
            f"{source} is neither TIAGE (an object of [utterance, label] lists) nor DialSeg711 "
            "(a list of objects with dial_id, utterances and segments)"
        )
    if not parsed.dialogues:
        raise EvaluationError(f"{source} holds no dialogues")
    ids = [dialogue.id for dialogue in parsed.dialogues]
    if len(set(ids)) != len(ids):
        raise EvaluationError(f"{source}: dialogue ids repeat")
    return parsed


def _parse(data: Any) -> SegmentationData | None:
    if isinstance(data, dict) and all(_is_tiage(pairs) for pairs in data.values()):
        return SegmentationData("TIAGE", [_tiage(str(k), v) for k, v in data.items()])
    if isinstance(data, list) and all(_is_dialseg(item) for item in data):
        return SegmentationData("DialSeg711", [_dialseg(item) for item in data])
    return None


def _is_tiage(pairs: Any) -> bool:
    return isinstance(pairs, list) and all(
        isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in pairs
    )


def _tiage(dialogue_id: str, pairs: list[list[Any]]) -> Dialogue:
    if not pairs:
        raise ValueError(f"dialogue {dialogue_id} has no utterances")
    labels = [0] * len(pairs)
    for index, (_, label) in enumerate(pairs):
        if str(label) not in {"-1", "0", "1"}:
            raise ValueError(f"dialogue {dialogue_id}: unknown label {label!r}")
        if str(label) == "1" and index > 0:
            labels[index - 1] = 1
    return Dialogue(dialogue_id, [utterance for utterance, _ in pairs], labels)


def _is_dialseg(item: Any) -> bool:
    return isinstance(item, dict) and {"dial_id", "utterances", "segments"} <= item.keys()


def _dialseg(item: dict[str, Any]) -> Dialogue:
    dialogue_id = str(item["dial_id"])
    utterances = item["utterances"]
    segments = item["segments"]
    if not all(isinstance(u, str) for u in utterances):
        raise ValueError(f"dialogue {dialogue_id}: utterances must be strings")
    if not all(isinstance(n, int) and n > 0 for n in segments):
        raise ValueError(f"dialogue {dialogue_id}: segments must be positive lengths")
    if sum(segments) != len(utterances) or not utterances:
        raise ValueError(
            f"dialogue {dialogue_id}: segments sum to {sum(segments)}, "
            f"not to its {len(utterances)} utterances"
        )
    labels = [0] * len(utterances)
    end = 0
    for length in segments[:-1]:
        end += length
        labels[end - 1] = 1
    return Dialogue(dialogue_id, list(utterances), labels)
