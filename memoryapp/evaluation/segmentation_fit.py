"""`manage.py memory_eval segmentation-fit`: refit the segmenter's weights and threshold.

How the tuned values in `memoryapp.segmentation.SegmentationParams` were made, so they can be
made again (or for another embedding model):

1. Every position of every development dialogue gets the detector's four features
   (`window_features`), its windows cut where the reference segment starts, as they are cut
   at run time after a boundary; the label is the reference boundary.
2. A logistic regression on the standardised features (L2 penalty `L2`, Newton steps), each
   file weighted so that it counts as much as the others whatever its size, gives the weights
   and the intercept, rounded to two decimals.
3. The decision threshold is the probability in `THRESHOLDS` whose boundaries (the real
   detector, run as the evaluation runs it) give the lowest Pk averaged over the files.

Five numbers are fitted: four weights and the bias (intercept minus the threshold's logit).
The structure (windows, depth and suppression radii, minimum segment length) was chosen by
comparing a few alternatives on the same files, aggregates only.
"""

from __future__ import annotations

import math
from argparse import ArgumentParser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from memoryapp.evaluation.segmentation import embed_dialogues, segment_labels
from memoryapp.evaluation.segmentation_data import Dialogue, read_segmentation_file
from memoryapp.evaluation.segmentation_metrics import pk
from memoryapp.segmentation import DEFAULT_PARAMS, Matrix, SegmentationParams, window_features

HELP = "refit the segmenter's weights and threshold on development files and print them"
L2 = 1.0
NEWTON_STEPS = 25
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


@dataclass(frozen=True)
class DevSet:
    """One development file: its dialogues and their utterance embeddings."""

    name: str
    dialogues: list[Dialogue]
    vectors: list[Matrix]


def add_arguments(parser: ArgumentParser) -> None:
    """--data FILE, repeated: the development files."""
    parser.add_argument(
        "--data", type=Path, action="append", required=True, help="a development file (repeat)"
    )


def run(options: Mapping[str, Any], write: Callable[[str], None]) -> None:
    """Fit on the files, print Pk per threshold and the chosen parameters."""
    sets = []
    for path in options["data"]:
        dialogues = read_segmentation_file(path).dialogues
        sets.append(DevSet(path.name, dialogues, embed_dialogues(dialogues)))
    weights, intercept = fit_weights(sets, DEFAULT_PARAMS.depth_radius)
    write(f"weights {weights}, intercept {intercept}")
    tried = [_try_threshold(sets, weights, intercept, t, write) for t in THRESHOLDS]
    chosen = min(tried, key=lambda pair: pair[0])[1]
    write(f"chosen: weights={chosen.weights}, bias={chosen.bias}")


def _try_threshold(
    sets: Sequence[DevSet],
    weights: tuple[float, ...],
    intercept: float,
    threshold: float,
    write: Callable[[str], None],
) -> tuple[float, SegmentationParams]:
    """Mean Pk over the files with this decision threshold, and the parameters giving it."""
    bias = round(intercept - math.log(threshold / (1 - threshold)), 2)
    params = replace(DEFAULT_PARAMS, weights=weights, bias=bias)
    per_set = [mean_pk(dev, params) for dev in sets]
    mean = float(np.mean(per_set))
    cells = ", ".join(f"{dev.name} {value:.4f}" for dev, value in zip(sets, per_set, strict=True))
    write(f"threshold {threshold:.2f} (bias {bias:+.2f}): mean Pk {mean:.4f} ({cells})")
    return mean, params


def fit_weights(sets: Sequence[DevSet], depth_radius: int) -> tuple[tuple[float, ...], float]:
    """Logistic-regression weights of the four features and its intercept, rounded."""
    blocks = [training_rows(dev, depth_radius) for dev in sets]
    features = np.vstack([x for x, _ in blocks])
    labels = np.concatenate([y for _, y in blocks])
    sample_weights = np.concatenate([np.full(len(y), len(labels) / len(y)) for _, y in blocks])
    mean, spread = features.mean(axis=0), features.std(axis=0)
    spread[spread == 0] = 1.0
    coefficients, intercept = logistic_regression(
        (features - mean) / spread, labels, sample_weights, L2
    )
    weights = coefficients / spread
    raw_intercept = intercept - float(mean @ weights)
    return tuple(round(float(w), 2) for w in weights), round(raw_intercept, 2)


def training_rows(dev: DevSet, depth_radius: int) -> tuple[Matrix, npt.NDArray[np.float64]]:
    """Features of every position, windows cut at the reference segment starts; labels."""
    rows, labels = [], []
    for dialogue, vectors in zip(dev.dialogues, dev.vectors, strict=True):
        unit = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        last = len(dialogue.labels) - 1
        starts = [0] + [i + 1 for i, label in enumerate(dialogue.labels) if label]
        for lo, stop in zip(starts, [*starts[1:], last], strict=True):
            if stop > lo:
                rows.append(window_features(unit, lo, last, depth_radius)[: stop - lo])
                labels.extend(dialogue.labels[lo:stop])
    return np.vstack(rows), np.asarray(labels, dtype=np.float64)


def logistic_regression(
    features: Matrix, labels: npt.NDArray[np.float64], sample_weights: Matrix, l2: float
) -> tuple[Matrix, float]:
    """Weighted, L2-penalised (intercept excluded) logistic regression by Newton's method."""
    design = np.hstack([features, np.ones((len(features), 1))])
    penalty = np.diag([l2] * features.shape[1] + [0.0])
    beta = np.zeros(design.shape[1])
    for _ in range(NEWTON_STEPS):
        probability = 1 / (1 + np.exp(-(design @ beta)))
        gradient = design.T @ (sample_weights * (probability - labels)) + penalty @ beta
        curvature = sample_weights * probability * (1 - probability)
        hessian = (design * curvature[:, None]).T @ design + penalty
        beta -= np.linalg.solve(hessian, gradient)
    return beta[:-1], float(beta[-1])


def mean_pk(dev: DevSet, params: SegmentationParams) -> float:
    """The detector's Pk on one file, averaged over dialogues."""
    scores = [
        pk(dialogue.labels, segment_labels(dialogue, vectors, params))
        for dialogue, vectors in zip(dev.dialogues, dev.vectors, strict=True)
    ]
    return float(np.mean(scores))
