"""Reading TIAGE and DialSeg711 files, the format told by the structure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.segmentation_data import (
    Dialogue,
    parse_segmentation_data,
    read_segmentation_file,
)

TIAGE = {
    "12": [["hi there", "-1"], ["hello", "0"], ["do you like dogs?", "1"], ["I do", "0"]],
    "13": [["one", "-1"], ["two", "0"]],
}
DIALSEG = [
    {"dial_id": 7, "utterances": ["a", "b", "c", "d", "e"], "segments": [2, 3], "set": "dev"},
]


def test_tiage_labels_move_to_the_utterance_before_the_new_topic() -> None:
    data = parse_segmentation_data(TIAGE)

    assert data.format == "TIAGE"
    assert data.dialogues == [
        Dialogue("12", ["hi there", "hello", "do you like dogs?", "I do"], [0, 1, 0, 0]),
        Dialogue("13", ["one", "two"], [0, 0]),
    ]


def test_dialseg_segment_lengths_become_boundaries_after_each_but_the_last() -> None:
    data = parse_segmentation_data(DIALSEG)

    assert data.format == "DialSeg711"
    assert data.dialogues == [Dialogue("7", ["a", "b", "c", "d", "e"], [0, 1, 0, 0, 0])]


def test_files_are_read_by_structure_not_name(tmp_path: Path) -> None:
    path = tmp_path / "anything.json"
    path.write_text(json.dumps(DIALSEG))

    assert read_segmentation_file(path).format == "DialSeg711"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([{"utterances": ["a"]}], "neither"),
        ("text", "neither"),
        ({}, "no dialogues"),
        ({"1": [["a", "x"]]}, "unknown label"),
        ({"1": [["a"]]}, "neither"),
        ({"1": []}, "no utterances"),
        ([{"dial_id": 1, "utterances": ["a", "b"], "segments": [3]}], "sum to 3"),
        ([{"dial_id": 1, "utterances": ["a"], "segments": [1]}] * 2, "repeat"),
    ],
)
def test_other_structures_are_refused(data: object, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        parse_segmentation_data(data)


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")

    with pytest.raises(EvaluationError, match="not JSON"):
        read_segmentation_file(broken)
    with pytest.raises(EvaluationError, match="cannot read"):
        read_segmentation_file(tmp_path / "missing.json")
