"""The benchmark's owners: the stages it measures at and the sizes of the owners it adds."""

from __future__ import annotations

import numpy as np
import pytest

from memoryapp.benchmarks.scale.population import (
    LARGE,
    SMALL,
    class_label,
    owner_sizes,
    stage_sizes,
)


@pytest.mark.parametrize(
    ("units", "stages"),
    [
        (1_000_000, [10_000, 100_000, 1_000_000]),
        (250_000, [10_000, 100_000, 250_000]),
        (100_000, [10_000, 100_000]),
        (3_000, [3_000]),
    ],
)
def test_stages_grow_to_the_requested_size(units: int, stages: list[int]) -> None:
    assert stage_sizes(units) == stages


@pytest.mark.parametrize("increment", [50, 3_000, 90_000, 900_000])
def test_owner_sizes_add_up_to_the_increment(increment: int) -> None:
    sizes = owner_sizes(increment, np.random.default_rng(0))

    assert sum(sizes) == increment
    assert all(size > 0 for size in sizes)


def test_a_million_units_has_many_small_owners_and_some_large_ones() -> None:
    sizes = owner_sizes(900_000, np.random.default_rng(0))

    labels = [class_label(size) for size in sizes]
    assert labels.count("small") > 200
    assert 3 <= labels.count("large") <= 20
    assert all(LARGE.low <= size <= LARGE.high for size in sizes if class_label(size) == "large")
    assert min(sizes) >= SMALL.low
