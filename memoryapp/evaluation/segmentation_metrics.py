"""Topic segmentation metrics: Pk, WindowDiff and boundary precision/recall/F1.

A segmentation of n utterances is a list of n labels, label i being 1 when a topic boundary
lies right after utterance i (the last label is always 0). This is the SuperDialSeg
convention (Jiang et al., 2023, github.com/Coldog2333/SuperDialseg), which the numbers are
meant to be comparable with:

- the window k is half the mean reference segment length of each dialogue,
  `max(2, round(n / (reference boundaries + 1) / 2))` with Python's `round`, cut to n so
  that a one-utterance dialogue still has one window;
- Pk (Beeferman et al., 1999) and WindowDiff (Pevzner and Hearst, 2002) slide that window
  over the label sequence as NLTK's `pk` and `windowdiff` do: for each of the n - k + 1
  windows, Pk counts an error when exactly one of reference and hypothesis has a boundary
  inside it, WindowDiff when their boundary counts inside it differ;
- both are computed per dialogue and then averaged over dialogues (macro average).

Boundary F1 is pooled over all dialogues (micro average): exact positions, and optionally
with a tolerance, where a predicted boundary matches an unmatched reference boundary at
most `tolerance` positions away (one to one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Labels = Sequence[int]


def window_size(reference: Labels) -> int:
    """The Pk/WindowDiff window for one dialogue: half its mean segment length, at least 2."""
    length = len(reference)
    segments = sum(reference) + 1
    return max(1, min(length, max(2, round(length / segments / 2))))


def pk(reference: Labels, hypothesis: Labels, k: int | None = None) -> float:
    """Share of windows where reference and hypothesis disagree on whether a boundary is in."""
    ref, hyp, k = _windows(reference, hypothesis, k)
    return float(np.mean((ref > 0) != (hyp > 0)))


def window_diff(reference: Labels, hypothesis: Labels, k: int | None = None) -> float:
    """Share of windows where reference and hypothesis hold different numbers of boundaries."""
    ref, hyp, k = _windows(reference, hypothesis, k)
    return float(np.mean(ref != hyp))


def _windows(
    reference: Labels, hypothesis: Labels, k: int | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]:
    """Boundary counts of every window of the two label sequences."""
    if len(reference) != len(hypothesis):
        raise ValueError(f"{len(reference)} reference labels but {len(hypothesis)} predicted")
    if not reference:
        raise ValueError("a segmentation needs at least one utterance")
    k = window_size(reference) if k is None else k
    if not 1 <= k <= len(reference):
        raise ValueError(f"window {k} does not fit {len(reference)} labels")
    kernel = np.ones(k, dtype=np.int64)
    ref = np.convolve(np.asarray(reference, dtype=np.int64), kernel, mode="valid")
    hyp = np.convolve(np.asarray(hypothesis, dtype=np.int64), kernel, mode="valid")
    return ref, hyp, k


@dataclass(frozen=True)
class BoundaryCounts:
    """Matched, predicted and reference boundaries; add them up over dialogues."""

    matched: int = 0
    predicted: int = 0
    reference: int = 0

    def __add__(self, other: BoundaryCounts) -> BoundaryCounts:
        return BoundaryCounts(
            self.matched + other.matched,
            self.predicted + other.predicted,
            self.reference + other.reference,
        )

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def boundary_counts(reference: Labels, hypothesis: Labels, tolerance: int = 0) -> BoundaryCounts:
    """Boundaries of `hypothesis` matched one to one with those of `reference` within
    `tolerance` positions (a greedy left-to-right matching, which is maximal on a line)."""
    if len(reference) != len(hypothesis):
        raise ValueError(f"{len(reference)} reference labels but {len(hypothesis)} predicted")
    wanted = [i for i, label in enumerate(reference) if label]
    found = [i for i, label in enumerate(hypothesis) if label]
    matched = 0
    next_free = 0
    for position in found:
        while next_free < len(wanted) and wanted[next_free] < position - tolerance:
            next_free += 1
        if next_free < len(wanted) and wanted[next_free] <= position + tolerance:
            matched += 1
            next_free += 1
    return BoundaryCounts(matched, len(found), len(wanted))
