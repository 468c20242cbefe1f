"""Who owns the benchmark's units: many small owners and some large ones, grown in stages.

Each stage adds new owners whose rows make up the stage's increment: about 45% of it in large
owners (20k-130k units, the HNSW path), 15% in medium ones (3k-10k, the slow end of the
exact scan) and the rest in small ones (100-3k). Sizes are log-uniform within a class; what
a class cannot use (less than one owner's minimum) goes to the next smaller class. At 1M
units that makes about 7 large, 20 medium and 400 small owners; at 10k only small ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memoryapp.retrieval.tuning import EXACT_SCAN_MAX_ROWS

STAGE_SIZES = (10_000, 100_000)


@dataclass(frozen=True)
class SizeClass:
    name: str
    low: int  # rows of its smallest owner
    high: int  # rows of its largest owner
    share: float  # of a stage's increment


SMALL = SizeClass("small", 100, 3_000, 0.40)
MEDIUM = SizeClass("medium", 3_000, 10_000, 0.15)
LARGE = SizeClass("large", 20_000, 130_000, 0.45)
CLASSES = (SMALL, MEDIUM, LARGE)


def class_label(rows: int) -> str:
    """The class an owner of `rows` units is reported in; "large" means the app's HNSW path."""
    if rows > EXACT_SCAN_MAX_ROWS:
        return LARGE.name
    return MEDIUM.name if rows > SMALL.high else SMALL.name


def stage_sizes(units: int) -> list[int]:
    """Cumulative table sizes to measure at: 10k, 100k and `units`, none above `units`."""
    return [size for size in STAGE_SIZES if size < units] + [units]


def _draw(budget: int, size_class: SizeClass, rng: np.random.Generator) -> list[int]:
    """Owner sizes of one class, log-uniform, summing to at most `budget`; what is left is
    less than the class's minimum."""
    sizes: list[int] = []
    left = budget
    low, high = np.log(size_class.low), np.log(size_class.high)
    while left >= size_class.low:
        size = min(int(np.exp(rng.uniform(low, high))), left)
        sizes.append(size)
        left -= size
    return sizes


def owner_sizes(increment: int, rng: np.random.Generator) -> list[int]:
    """Sizes of the new owners of one stage, summing to `increment`, largest classes first."""
    sizes: list[int] = []
    share = 0.0
    for size_class in (LARGE, MEDIUM, SMALL):
        share += size_class.share
        # What a larger class left unused carries over; the last class takes the rest.
        target = increment if size_class is SMALL else round(increment * share)
        sizes.extend(_draw(target - sum(sizes), size_class, rng))
    rest = increment - sum(sizes)  # less than a small owner's minimum
    if rest and sizes:
        sizes[-1] += rest
    elif rest:
        sizes.append(rest)
    return sizes
