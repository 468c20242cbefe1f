"""Reference points for the segmenter, computed in the same run: trivial segmentations and
the plain embedding TextTiling the memoryapp segmenter started from.

Every function returns labels in the metrics' convention (1: boundary right after the
utterance; the last label is 0).
"""

from __future__ import annotations

import numpy as np

from memoryapp.segmentation import Matrix

#: Turns per side of TextTiling's comparison windows, and the depth a boundary needs; chosen
#: by a grid search on the TIAGE and DialSeg711 development sets (mean Pk of the two).
TEXTTILING_WINDOW = 2
TEXTTILING_THRESHOLD = 0.55


def no_boundary(length: int) -> list[int]:
    """One segment."""
    return [0] * length


def every_boundary(length: int) -> list[int]:
    """One segment per utterance."""
    return [1] * (length - 1) + [0] if length else []


def even_spacing(length: int, segment_length: int) -> list[int]:
    """Segments of `segment_length` utterances (the last one shorter)."""
    return [int((i + 1) % segment_length == 0 and i < length - 1) for i in range(length)]


def texttiling(
    vectors: Matrix, window: int = TEXTTILING_WINDOW, threshold: float = TEXTTILING_THRESHOLD
) -> list[int]:
    """Hearst's TextTiling over sentence embeddings.

    The similarity at each position is the cosine of the mean embeddings of the `window`
    utterances before and after it; its depth is the climb to the nearest peak on the left plus
    the climb to the nearest peak on the right. A boundary goes where the depth exceeds
    `threshold` and is no lower than its neighbours' depths.
    """
    length = len(vectors)
    if length < 2:
        return no_boundary(length)
    similarity = np.array(
        [
            _cosine(vectors[max(0, i - window + 1) : i + 1], vectors[i + 1 : i + 1 + window])
            for i in range(length - 1)
        ]
    )
    depth = np.array([_depth(similarity, i) for i in range(length - 1)])
    padded = np.concatenate([[-np.inf], depth, [-np.inf]])
    peaks = (depth > threshold) & (depth >= padded[:-2]) & (depth >= padded[2:])
    return [int(flag) for flag in peaks] + [0]


def _cosine(left: Matrix, right: Matrix) -> float:
    a = left.mean(axis=0)
    b = right.mean(axis=0)
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


def _depth(similarity: Matrix, i: int) -> float:
    left = i
    while left > 0 and similarity[left - 1] >= similarity[left]:
        left -= 1
    right = i
    while right < len(similarity) - 1 and similarity[right + 1] >= similarity[right]:
        right += 1
    return float(similarity[left] + similarity[right] - 2 * similarity[i])
