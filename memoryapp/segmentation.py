"""Topic boundaries in a conversation: where one memory unit (segment) ends and the next begins.

Pure and deterministic: numpy over the turns' embeddings, times and roles; no database, no
model call, so it works the same whatever LLM the app runs. The live pipeline and the
evaluation (`manage.py memory_eval segmentation`) call the same `settled_boundaries`, so what
is measured is what the pipeline does.

Positions: position i is the gap right after turn i; a boundary there means turn i + 1 starts
a new segment. The last position (after the newest turn) is never a boundary.

How boundaries are found, in this order of precedence:

1. Roles (optional). When the turn after a position has a role other than `user_role`, there
   is no boundary there: a question is never cut from its answer. Turns without a role
   (`role=None`, as in the evaluation data sets) are unconstrained.
2. Time. A silence longer than `max_gap`, or a change of calendar day after a silence of at
   least `new_day_gap`, is a boundary whatever the content says (`is_time_gap`). No content
   window reaches across it.
3. Content, TextTiling-style over the turns' embeddings. Each position gets four features
   (`window_features`): `near`, the cosine of turn i with the mean of turns i+1..i+2; `wide`,
   the cosine of the mean of turns i-1..i with the mean of turns i+1..i+2; and the depth of
   each, how far it dips below its highest value within `depth_radius` positions on either
   side (the two rises added). Their weighted sum plus `bias` is a logistic-regression logit,
   fitted on development sets by `memoryapp.evaluation.segmentation_fit`, with the decision
   threshold folded into `bias`. Scanning left to right, the first position whose score is
   positive and no lower than any score within `suppression_radius` becomes a boundary. Left
   windows never reach back past the latest boundary.

So the decision about a position depends only on the turns of its own segment up to
`lookahead` turns after it: `settled_boundaries(final=False)` decides exactly the positions
that have that much right-hand context, and those decisions never change when more turns
arrive; `final=True` (the segment closed by an idle timeout, or a whole dialogue offline)
decides the rest with whatever context exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.floating[Any]]
Matrix = npt.NDArray[np.float64]

#: Turns in every right-hand window (i+1..i+2).
RIGHT_WINDOW = 2
#: Turns in the left window of the `wide` feature (i-1..i); `near` uses turn i alone.
WIDE_LEFT_WINDOW = 2
FEATURE_NAMES = ("near", "wide", "near_depth", "wide_depth")


# The tuned defaults come from `manage.py memory_eval segmentation-fit` over the TIAGE and
# DialSeg711 development sets; the time rules are judgement, as those sets have no times.
@dataclass(frozen=True)
class SegmentationParams:
    """Everything the detector can be tuned with; `DEFAULT_PARAMS` holds the tuned values."""

    #: Coefficients of `FEATURE_NAMES` in the boundary logit.
    weights: tuple[float, ...] = (-1.03, -5.05, 1.29, 1.25)
    #: Intercept of the logit minus the logit of the decision threshold.
    bias: float = 0.08
    #: Positions on each side that a feature's depth is measured against.
    depth_radius: int = 2
    #: A boundary's score must be the highest within this many positions on each side.
    suppression_radius: int = 1
    #: Fewest turns in a segment closed by a content boundary.
    min_turns: int = 1
    #: A longer silence is always a boundary (keep it equal to the idle timeout that closes
    #: open segments, so a replay gives the segments the live pipeline made).
    max_gap: timedelta = timedelta(minutes=30)
    #: A silence at least this long that crosses midnight is a boundary.
    new_day_gap: timedelta = timedelta(minutes=10)
    #: The role of the turns that may start a segment, when roles are given.
    user_role: str = "user"

    def __post_init__(self) -> None:
        if self.depth_radius < 0 or self.suppression_radius < 0:
            raise ValueError("depth_radius and suppression_radius must not be negative")
        if self.min_turns < 1:
            raise ValueError("min_turns must be at least 1")
        if len(self.weights) != len(FEATURE_NAMES):
            raise ValueError(f"weights needs {len(FEATURE_NAMES)} values")

    @property
    def lookahead(self) -> int:
        """Turns after a position needed to decide it for good."""
        return RIGHT_WINDOW + self.depth_radius + self.suppression_radius


DEFAULT_PARAMS = SegmentationParams()


# eq=False: the generated __eq__ would compare numpy arrays, whose truth value is ambiguous.
@dataclass(frozen=True, eq=False)
class Turn:
    """One message: its text, its embedding (from `memoryapp.embeddings.embed_texts`), when it
    was said (aware, in the user's time zone: calendar days are read from it) and who said it.
    """

    text: str
    embedding: Vector
    at: datetime | None = None
    role: str | None = None


def boundaries(turns: Sequence[Turn], params: SegmentationParams = DEFAULT_PARAMS) -> list[bool]:
    """One flag per turn, True where a segment ends right after that turn; the last is False.

    The offline call: the same as `settled_boundaries(turns, params, final=True)`.
    """
    return settled_boundaries(turns, params, final=True)


def settled_boundaries(
    turns: Sequence[Turn],
    params: SegmentationParams = DEFAULT_PARAMS,
    *,
    final: bool,
    start: int = 0,
) -> list[bool]:
    """Flags for the leading positions that are decided; the list is as long as that prefix.

    With `final=False`, a position is decided once `params.lookahead` later turns exist, or a
    later time-gap boundary exists, and it stays decided the same way however the conversation
    goes on. With `final=True` every position is decided (the list has one flag per turn).

    `turns[:start]` may hold turns of already closed segments, given as context for other
    checks: a boundary is taken to lie right before `turns[start]` (its flag is True when
    `turns[start]` exists) and no other position before it is one. Those turns do not
    influence the decisions, since no window crosses a boundary.
    """
    count = len(turns)
    if not 0 <= start <= count:
        raise ValueError(f"start={start} is outside 0..{count}")
    flags = [False] * count
    if 0 < start < count:
        flags[start - 1] = True
    allowed = np.array([_may_start_segment(turn, params) for turn in turns[1:]] + [False])
    gaps = [
        i
        for i in range(start, count - 1)
        if allowed[i] and is_time_gap(turns[i], turns[i + 1], params)
    ]
    for cut in _cuts(_unit_rows(turns), start, gaps, allowed, params):
        flags[cut] = True
    if final:
        return flags
    # Positions inside the context, up to the latest time gap, or with enough turns after them.
    decided = max(count - params.lookahead, min(start, count - 1), gaps[-1] + 1 if gaps else 0)
    return flags[: max(decided, 0)]


def is_time_gap(before: Turn, after: Turn, params: SegmentationParams = DEFAULT_PARAMS) -> bool:
    """Whether the silence between two consecutive turns alone makes a boundary.

    False when either time is unknown. The calendar day is read in `before.at`'s time zone.
    """
    if before.at is None or after.at is None:
        return False
    gap = after.at - before.at
    if gap > params.max_gap:
        return True
    later = after.at if before.at.tzinfo is None else after.at.astimezone(before.at.tzinfo)
    return gap >= params.new_day_gap and later.date() != before.at.date()


def window_features(vectors: Matrix, lo: int, hi: int, depth_radius: int) -> Matrix:
    """Features of the positions lo..hi-1 of a segment whose turns are vectors[lo..hi].

    Rows of `vectors` are unit length. Returns shape (hi - lo, 4), columns `FEATURE_NAMES`.
    Windows are cut at both ends of the segment. Public for fitting the weights.
    """
    block = vectors[lo : hi + 1]
    positions = np.arange(hi - lo)
    sums = np.vstack([np.zeros((1, block.shape[1])), np.cumsum(block, axis=0)])
    right_end = np.minimum(positions + 1 + RIGHT_WINDOW, len(block))
    right = _unit(sums[right_end] - sums[positions + 1])
    left_start = np.maximum(positions + 1 - WIDE_LEFT_WINDOW, 0)
    wide_left = _unit(sums[positions + 1] - sums[left_start])
    near = np.einsum("ij,ij->i", block[positions], right)
    wide = np.einsum("ij,ij->i", wide_left, right)
    return np.column_stack(
        [near, wide, _depth(near, depth_radius), _depth(wide, depth_radius)]
    ).astype(np.float64)


def _cuts(
    vectors: Matrix,
    start: int,
    gaps: list[int],
    allowed: npt.NDArray[np.bool_],
    params: SegmentationParams,
) -> list[int]:
    """All boundaries from `start` on: the time gaps, and content boundaries between them."""
    cuts: list[int] = []
    block_start = start
    last = len(vectors) - 1
    for block_end in [*gaps, last]:
        cuts += _content_cuts(vectors, block_start, block_end, allowed, params)
        if block_end < last:
            cuts.append(block_end)
        block_start = block_end + 1
    return cuts


def _content_cuts(
    vectors: Matrix,
    lo: int,
    hi: int,
    allowed: npt.NDArray[np.bool_],
    params: SegmentationParams,
) -> list[int]:
    """Content boundaries among positions lo..hi-1 of the block of turns lo..hi."""
    cuts: list[int] = []
    first = lo
    weights = np.asarray(params.weights, dtype=np.float64)
    while first < hi:
        scores = window_features(vectors, first, hi, params.depth_radius) @ weights + params.bias
        scores[~allowed[first:hi]] = -np.inf
        peak = _first_peak(scores, params)
        if peak is None:
            break
        cuts.append(first + peak)
        first += peak + 1
    return cuts


def _first_peak(scores: Matrix, params: SegmentationParams) -> int | None:
    radius = params.suppression_radius
    for k in range(params.min_turns - 1, len(scores)):
        if scores[k] > 0 and scores[k] >= scores[max(0, k - radius) : k + radius + 1].max():
            return k
    return None


def _depth(values: Matrix, radius: int) -> Matrix:
    """How far each value lies below the highest value within `radius` on each side, summed."""
    left = values.copy()
    right = values.copy()
    for offset in range(1, min(radius, len(values) - 1) + 1):
        left[offset:] = np.maximum(left[offset:], values[:-offset])
        right[:-offset] = np.maximum(right[:-offset], values[offset:])
    depth: Matrix = left + right - 2 * values
    return depth


def _may_start_segment(turn: Turn, params: SegmentationParams) -> bool:
    return turn.role is None or turn.role == params.user_role


def _unit_rows(turns: Sequence[Turn]) -> Matrix:
    if not turns:
        return np.zeros((0, 0))
    return _unit(np.stack([np.asarray(turn.embedding, dtype=np.float64) for turn in turns]))


def _unit(rows: Matrix) -> Matrix:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Matrix = rows / np.clip(norms, 1e-12, None)
    return unit
