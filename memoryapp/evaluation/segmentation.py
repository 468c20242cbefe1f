"""`manage.py memory_eval segmentation`: the topic segmenter on a TIAGE or DialSeg711 file.

Runs `memoryapp.segmentation.boundaries` (the pipeline's own `settled_boundaries` with
`final=True`) on every dialogue, with turns that have no time and no role (the data sets
have neither), and scores it next to reference points computed in the same run:

- no boundary, every boundary;
- even spacing: segments of the data set's mean reference segment length (all utterances
  over all reference segments, rounded). That one number is the only thing it takes from the
  reference; it never sees a dialogue's own boundary count;
- the plain embedding TextTiling the segmenter started from (`segmentation_baselines`).

Metrics and their conventions are in `segmentation_metrics`: Pk and WindowDiff per dialogue,
averaged over dialogues; F1 pooled over all boundaries. No database is used.
"""

from __future__ import annotations

import json
import time
from argparse import ArgumentParser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memoryapp.embeddings import embed_texts
from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.segmentation_baselines import (
    even_spacing,
    every_boundary,
    no_boundary,
    texttiling,
)
from memoryapp.evaluation.segmentation_data import Dialogue, read_segmentation_file
from memoryapp.evaluation.segmentation_metrics import (
    BoundaryCounts,
    boundary_counts,
    pk,
    window_diff,
)
from memoryapp.segmentation import (
    DEFAULT_PARAMS,
    Matrix,
    SegmentationParams,
    Turn,
    boundaries,
)

HELP = "Pk, WindowDiff and F1 of the topic segmenter on a TIAGE or DialSeg711 file"
SEGMENTER = "memoryapp segmenter"


def add_arguments(parser: ArgumentParser) -> None:
    """--data FILE (required), --out PRED.json."""
    parser.add_argument("--data", type=Path, required=True, help="a TIAGE or DialSeg711 file")
    parser.add_argument(
        "--out", type=Path, help="write the segmenter's labels here: {dialogue id: [0/1, ...]}"
    )


def run(options: Mapping[str, Any], write: Callable[[str], None]) -> None:
    """Embed, segment, score, print the table and write the predictions file."""
    data_path: Path = options["data"]
    data = read_segmentation_file(data_path)
    started = time.monotonic()
    vectors = embed_dialogues(data.dialogues)
    embedded = time.monotonic()
    predictions = [segment_labels(d, v) for d, v in zip(data.dialogues, vectors, strict=True)]
    segmented = time.monotonic()
    rows = [
        score(SEGMENTER, data.dialogues, predictions),
        *baseline_scores(data.dialogues, vectors),
    ]
    write(f"{data_path.name} ({data.format}): {describe(data.dialogues)}")
    for line in table_lines(rows):
        write(line)
    write(
        f"embedding {embedded - started:.1f} s, segmenter {segmented - embedded:.2f} s "
        f"({sum(len(d.utterances) for d in data.dialogues)} utterances)"
    )
    out: Path | None = options.get("out")
    if out is not None:
        write_predictions(out, data.dialogues, predictions)
        write(f"predictions written to {out}")


def embed_dialogues(dialogues: Sequence[Dialogue]) -> list[Matrix]:
    """Each dialogue's utterance embeddings, computed in one batch."""
    texts = [u for dialogue in dialogues for u in dialogue.utterances]
    flat = embed_texts(texts).astype(np.float64)
    ends = np.cumsum([len(dialogue.utterances) for dialogue in dialogues])
    return list(np.split(flat, ends[:-1]))


def segment_labels(
    dialogue: Dialogue, vectors: Matrix, params: SegmentationParams = DEFAULT_PARAMS
) -> list[int]:
    """The memoryapp segmenter's labels for one dialogue (no times, no roles)."""
    turns = [Turn(text=u, embedding=v) for u, v in zip(dialogue.utterances, vectors, strict=True)]
    return [int(flag) for flag in boundaries(turns, params)]


@dataclass(frozen=True)
class Score:
    """One method's results over a data set."""

    method: str
    pk: float
    window_diff: float
    exact: BoundaryCounts
    near: BoundaryCounts


def score(method: str, dialogues: Sequence[Dialogue], predictions: Sequence[list[int]]) -> Score:
    """Pk and WindowDiff averaged over dialogues; boundary counts exact and within one."""
    pks, wds = [], []
    exact, near = BoundaryCounts(), BoundaryCounts()
    for dialogue, predicted in zip(dialogues, predictions, strict=True):
        pks.append(pk(dialogue.labels, predicted))
        wds.append(window_diff(dialogue.labels, predicted))
        exact += boundary_counts(dialogue.labels, predicted)
        near += boundary_counts(dialogue.labels, predicted, tolerance=1)
    return Score(method, float(np.mean(pks)), float(np.mean(wds)), exact, near)


def baseline_scores(dialogues: Sequence[Dialogue], vectors: Sequence[Matrix]) -> list[Score]:
    """The reference rows: no boundary, every boundary, even spacing, TextTiling."""
    spacing = max(1, round(mean_segment_length(dialogues)))
    lengths = [len(d.utterances) for d in dialogues]
    return [
        score("no boundary", dialogues, [no_boundary(n) for n in lengths]),
        score("every boundary", dialogues, [every_boundary(n) for n in lengths]),
        score(f"even spacing ({spacing})", dialogues, [even_spacing(n, spacing) for n in lengths]),
        score("TextTiling baseline", dialogues, [texttiling(v) for v in vectors]),
    ]


def mean_segment_length(dialogues: Sequence[Dialogue]) -> float:
    """Utterances per reference segment over the whole data set."""
    utterances = sum(len(d.utterances) for d in dialogues)
    segments = sum(sum(d.labels) + 1 for d in dialogues)
    return utterances / segments


def describe(dialogues: Sequence[Dialogue]) -> str:
    """Counts of dialogues, utterances and reference boundaries."""
    utterances = sum(len(d.utterances) for d in dialogues)
    reference = sum(sum(d.labels) for d in dialogues)
    return (
        f"{len(dialogues)} dialogues, {utterances} utterances, {reference} reference "
        f"boundaries (mean segment {mean_segment_length(dialogues):.2f} utterances)"
    )


def table_lines(rows: Sequence[Score]) -> list[str]:
    """The results as an aligned text table."""
    header = ("method", "Pk", "WindowDiff", "F1", "P", "R", "F1 (±1)", "boundaries")
    cells = [
        (
            row.method,
            f"{row.pk:.3f}",
            f"{row.window_diff:.3f}",
            f"{row.exact.f1:.3f}",
            f"{row.exact.precision:.3f}",
            f"{row.exact.recall:.3f}",
            f"{row.near.f1:.3f}",
            str(row.exact.predicted),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]

    def render(line: Sequence[str]) -> str:
        first = line[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True))
        return " | ".join([first, *rest])

    rule = "-+-".join("-" * width for width in widths)
    return [render(header), rule, *(render(line) for line in cells)]


def write_predictions(
    path: Path, dialogues: Sequence[Dialogue], predictions: Sequence[list[int]]
) -> None:
    """{dialogue id: labels} as JSON; raises `EvaluationError` when it cannot be written."""
    payload = {d.id: labels for d, labels in zip(dialogues, predictions, strict=True)}
    try:
        path.write_text(json.dumps(payload) + "\n", encoding="utf-8")
    except OSError as exc:
        raise EvaluationError(f"cannot write {path}: {exc}") from exc
