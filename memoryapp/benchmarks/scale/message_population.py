"""Who owns the message benchmark's messages: owners of about 1k, 10k and 100k messages.

The classes take shares of the messages, largest first: about half go to owners of about
100k messages, 30% to owners of about 10k, the rest to owners of about 1k. Sizes are
log-uniform between 0.8 and 1.25 times the class's nominal size; what a class cannot use
(less than one owner's minimum) carries over to the next smaller class, and what the smallest
leaves goes to the largest owner. The 100k class appears once the messages allow one such
owner beside the others (1.5 times its minimum); the 10k and 1k classes always have at least
one owner, which takes at least `minimum_messages`. At 1M messages that makes about 5, 30 and
200 owners. `scale` shrinks every nominal size (the tests' tiny classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memoryapp.benchmarks import BenchError

LOW, HIGH = 0.8, 1.25  # an owner's size, as a multiple of its class's nominal size
SHARES = (0.5, 0.3)  # of the largest and the middle class; the smallest takes the rest
NOMINAL = (100_000, 10_000, 1_000)
LARGEST_CLASS_FROM = 1.5  # times its minimum


@dataclass(frozen=True)
class MessageClass:
    nominal: int

    @property
    def label(self) -> str:
        """ "1k", "10k", "100k" (or "100" for the tests' scaled classes)."""
        if self.nominal >= 1000 and self.nominal % 1000 == 0:
            return f"{self.nominal // 1000}k"
        return str(self.nominal)

    @property
    def low(self) -> int:
        return round(self.nominal * LOW)

    @property
    def high(self) -> int:
        return round(self.nominal * HIGH)


@dataclass(frozen=True)
class OwnerSize:
    size_class: MessageClass
    messages: int


def message_classes(scale: float = 1.0) -> tuple[MessageClass, ...]:
    """The classes, largest first, their nominal sizes times `scale`."""
    return tuple(MessageClass(max(1, round(nominal * scale))) for nominal in NOMINAL)


def minimum_messages(scale: float = 1.0) -> int:
    """The fewest messages that make one owner of the middle class and one of the smallest."""
    _, middle, smallest = message_classes(scale)
    return round(middle.low / (SHARES[0] + SHARES[1])) + smallest.low


def _draw(budget: int, size_class: MessageClass, rng: np.random.Generator) -> list[int]:
    sizes: list[int] = []
    left = budget
    low, high = np.log(size_class.low), np.log(size_class.high)
    while left >= size_class.low:
        size = min(int(np.exp(rng.uniform(low, high))), left)
        sizes.append(size)
        left -= size
    return sizes


def message_owner_sizes(
    total: int, rng: np.random.Generator, *, scale: float = 1.0
) -> list[OwnerSize]:
    """Owners whose messages add up to `total`, largest class first (see the module doc).

    Raises `BenchError` below `minimum_messages`.
    """
    if total < minimum_messages(scale):
        raise BenchError(
            f"--messages {total:,} is too few for one owner of each of the smaller classes: "
            f"at least {minimum_messages(scale):,}"
        )
    largest, middle, smallest = message_classes(scale)
    owners: list[OwnerSize] = []
    used = 0
    targets = (
        (largest, round(total * SHARES[0]) if total >= LARGEST_CLASS_FROM * largest.low else 0),
        (middle, round(total * (SHARES[0] + SHARES[1]))),
        (smallest, total),
    )
    for size_class, cumulative in targets:
        sizes = _draw(cumulative - used, size_class, rng)
        owners.extend(OwnerSize(size_class, size) for size in sizes)
        used += sum(sizes)
    rest = total - used
    if rest:
        biggest = max(range(len(owners)), key=lambda i: owners[i].messages)
        owners[biggest] = OwnerSize(owners[biggest].size_class, owners[biggest].messages + rest)
    return owners
