"""Pk, WindowDiff and boundary F1 on small cases computed by hand, and the baselines."""

from __future__ import annotations

import numpy as np
import pytest

from memoryapp.evaluation.segmentation_baselines import (
    even_spacing,
    every_boundary,
    no_boundary,
    texttiling,
)
from memoryapp.evaluation.segmentation_metrics import (
    BoundaryCounts,
    boundary_counts,
    pk,
    window_diff,
    window_size,
)


def test_window_is_half_the_mean_segment_length_and_at_least_two() -> None:
    assert window_size([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]) == 4  # 16 / 2 / 2
    assert window_size([0, 0, 1, 0, 0, 0]) == 2  # round(1.5) == 2
    assert window_size([0, 1, 0, 1, 0, 0]) == 2  # round(1.0), raised to 2
    assert window_size([0]) == 1  # cut to the dialogue


def test_pk_and_window_diff_of_a_shifted_boundary() -> None:
    reference = [0, 0, 1, 0, 0, 0]
    hypothesis = [0, 0, 0, 0, 1, 0]
    # k = 2; of the windows starting at 0..4 the reference has a boundary in 1 and 2, the
    # hypothesis in 3 and 4: four of five disagree.
    assert pk(reference, hypothesis) == pytest.approx(0.8)
    assert window_diff(reference, hypothesis) == pytest.approx(0.8)


def test_window_diff_counts_boundaries_where_pk_only_sees_presence() -> None:
    reference = [0, 1, 0, 0, 0, 0]
    hypothesis = [1, 1, 0, 0, 0, 0]
    # k = 3: windows 0..3 hold 1, 1, 0, 0 reference and 2, 1, 0, 0 predicted boundaries.
    assert pk(reference, hypothesis, k=3) == 0.0
    assert window_diff(reference, hypothesis, k=3) == pytest.approx(0.25)


def test_perfect_and_single_utterance_segmentations_score_zero() -> None:
    assert pk([0, 1, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0]) == 0.0
    assert window_diff([0, 1, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0]) == 0.0
    assert pk([0], [0]) == 0.0


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="labels"):
        pk([0, 0], [0])
    with pytest.raises(ValueError, match="window"):
        window_diff([0, 0], [0, 0], k=3)


def test_f1_exact_and_within_one_position() -> None:
    reference = [0, 1, 0, 0, 1, 0]
    hypothesis = [0, 0, 1, 0, 1, 0]

    exact = boundary_counts(reference, hypothesis)
    near = boundary_counts(reference, hypothesis, tolerance=1)

    assert exact == BoundaryCounts(matched=1, predicted=2, reference=2)
    assert exact.f1 == pytest.approx(0.5)
    assert near.f1 == 1.0


def test_tolerance_matches_one_to_one() -> None:
    counts = boundary_counts([0, 1, 0, 0], [1, 0, 1, 0], tolerance=1)

    assert counts == BoundaryCounts(matched=1, predicted=2, reference=1)
    assert counts.precision == 0.5
    assert counts.recall == 1.0


def test_counts_add_up_over_dialogues() -> None:
    total = BoundaryCounts(1, 2, 2) + BoundaryCounts(0, 0, 1)

    assert total == BoundaryCounts(1, 2, 3)
    assert total.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert BoundaryCounts().f1 == 0.0


def test_trivial_baselines() -> None:
    assert no_boundary(3) == [0, 0, 0]
    assert every_boundary(3) == [1, 1, 0]
    assert every_boundary(0) == []
    assert even_spacing(7, 3) == [0, 0, 1, 0, 0, 1, 0]
    assert even_spacing(6, 3) == [0, 0, 1, 0, 0, 0]


def test_texttiling_cuts_between_two_blocks_of_similar_vectors() -> None:
    first, second = np.eye(2)
    vectors = np.array([first, first, first, second, second, second])

    assert texttiling(vectors, window=2, threshold=0.5) == [0, 0, 1, 0, 0, 0]
    assert texttiling(vectors[:1]) == [0]
