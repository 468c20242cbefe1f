"""`manage.py memory_eval segmentation` end to end on tiny files; no database involved."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

TIAGE = {
    "a": [
        ["I want to bake sourdough bread, how long should the dough rise?", "-1"],
        ["About four hours at room temperature, or overnight in the fridge.", "0"],
        ["Should I add flour if the dough is sticky?", "0"],
        ["A little, but a sticky dough gives a lighter loaf.", "0"],
        ["My car makes a grinding noise when I brake.", "1"],
        ["The brake pads are probably worn down to the metal.", "0"],
        ["Can I replace them myself?", "0"],
        ["Yes, with a jack, a lug wrench and a C-clamp.", "0"],
    ],
    "b": [["hello", "-1"]],
}
DIALSEG = [
    {
        "dial_id": 3,
        "utterances": [
            "Which planets can I see with a small telescope?",
            "Jupiter and Saturn, with its rings.",
            "Book me a table for two at an Italian restaurant tonight.",
            "Done, your table is booked for 8 pm.",
        ],
        "segments": [2, 2],
    }
]


def run(*args: str) -> str:
    out = StringIO()
    call_command("memory_eval", *args, stdout=out)
    return out.getvalue()


def test_segmentation_prints_the_table_and_writes_predictions(tmp_path: Path) -> None:
    data, predictions = tmp_path / "tiny.json", tmp_path / "pred.json"
    data.write_text(json.dumps(TIAGE))

    output = run("segmentation", "--data", str(data), "--out", str(predictions))

    written = json.loads(predictions.read_text())
    assert written.keys() == {"a", "b"}
    assert written["b"] == [0]
    assert len(written["a"]) == 8
    assert written["a"][3] == 1 and written["a"][-1] == 0
    assert set(written["a"]) <= {0, 1}
    assert "tiny.json (TIAGE): 2 dialogues, 9 utterances, 1 reference boundaries" in output
    for method in ("memoryapp segmenter", "no boundary", "every boundary", "even spacing"):
        assert method in output
    assert "Pk" in output and "WindowDiff" in output and "F1" in output


def test_dialseg_ids_are_written_as_strings(tmp_path: Path) -> None:
    data, predictions = tmp_path / "dialseg.json", tmp_path / "pred.json"
    data.write_text(json.dumps(DIALSEG))

    output = run("segmentation", "--data", str(data), "--out", str(predictions))

    assert "(DialSeg711)" in output
    assert list(json.loads(predictions.read_text())) == ["3"]


def test_segmentation_fit_prints_the_chosen_parameters(tmp_path: Path) -> None:
    tiage, dialseg = tmp_path / "tiage.json", tmp_path / "dialseg.json"
    tiage.write_text(json.dumps(TIAGE))
    dialseg.write_text(json.dumps(DIALSEG))

    output = run("segmentation-fit", "--data", str(tiage), "--data", str(dialseg))

    assert "mean Pk" in output
    assert "chosen: weights=(" in output


def test_a_file_of_another_format_is_a_command_error(tmp_path: Path) -> None:
    data = tmp_path / "other.json"
    data.write_text(json.dumps({"questions": 3}))

    with pytest.raises(CommandError, match="neither TIAGE"):
        run("segmentation", "--data", str(data))


def test_a_benchmark_must_be_named() -> None:
    with pytest.raises(CommandError):
        run()
