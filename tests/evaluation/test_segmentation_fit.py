"""The fitting procedure behind the segmenter's tuned weights, on synthetic data."""

from __future__ import annotations

import numpy as np

from memoryapp.evaluation.segmentation_data import Dialogue
from memoryapp.evaluation.segmentation_fit import DevSet, logistic_regression, training_rows


def test_logistic_regression_finds_the_direction_that_separates_the_labels() -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 2))
    labels = (features[:, 0] - 0.5 * features[:, 1] > 0).astype(np.float64)

    weights, _ = logistic_regression(features, labels, np.ones(400), l2=1.0)

    assert weights[0] > 0 > weights[1]
    assert abs(weights[0]) > abs(weights[1])


def test_training_rows_give_one_row_per_position_labelled_by_the_reference() -> None:
    vectors = np.eye(6)
    dialogue = Dialogue("d", ["u"] * 6, [0, 1, 0, 0, 1, 0])

    features, labels = training_rows(DevSet("dev", [dialogue], [vectors]), depth_radius=2)

    assert features.shape == (5, 4)
    assert labels.tolist() == [0, 1, 0, 0, 1]
