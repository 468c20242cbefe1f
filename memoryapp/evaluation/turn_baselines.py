"""Turn-level retrieval baselines: BM25, dense MiniLM, and their reciprocal-rank fusion.

Each ranks all of one person's turns for a question and returns turn positions, best first.

- BM25 is implemented here (Okapi BM25, k1=1.2, b=0.75, idf = ln(1 + (N - df + 0.5) /
  (df + 0.5)), which is never negative), over lowercase `\\w+` words: no stemming, no stop
  words. A turn is indexed as its unit text, "speaker: text".
- Dense is the cosine between the question's MiniLM embedding and the turn embeddings the
  pipeline stored (unit vectors, so a dot product); turns without one (empty) rank last.
- Fusion adds 1 / (60 + rank) over the two rankings (ranks from 1).

Ties keep the turns' chronological order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

K1 = 1.2
B = 0.75
RRF_K = 60
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class BM25:
    """An index of documents, scored for a query with Okapi BM25."""

    def __init__(self, documents: Sequence[str], *, k1: float = K1, b: float = B) -> None:
        self.k1, self.b = k1, b
        counts = [Counter(words(document)) for document in documents]
        self.lengths = [sum(c.values()) for c in counts]
        self.average_length = sum(self.lengths) / len(self.lengths) if self.lengths else 0.0
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for position, count in enumerate(counts):
            for word, frequency in count.items():
                self.postings.setdefault(word, []).append((position, frequency))
        self.size = len(documents)

    def idf(self, word: str) -> float:
        df = len(self.postings.get(word, ()))
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> list[float]:
        """Each document's score, in document order (each query word counted once)."""
        scores = [0.0] * self.size
        for word in set(words(query)):
            idf = self.idf(word)
            for position, frequency in self.postings.get(word, ()):
                norm = 1 - self.b + self.b * self.lengths[position] / (self.average_length or 1)
                scores[position] += idf * frequency * (self.k1 + 1) / (frequency + self.k1 * norm)
        return scores

    def rank(self, query: str) -> list[int]:
        return order_by_score(self.scores(query))


def order_by_score(scores: Sequence[float]) -> list[int]:
    """Positions by descending score; equal scores keep their order."""
    return sorted(range(len(scores)), key=lambda position: -scores[position])


def dense_rank(
    question: npt.NDArray[np.float32], embeddings: npt.NDArray[np.float32], present: Sequence[bool]
) -> list[int]:
    """Positions by cosine similarity to `question` (all unit vectors); rows whose `present`
    is False (no embedding) come last."""
    similarity = embeddings @ question if len(embeddings) else np.zeros(0)
    scores = [float(s) if ok else -math.inf for s, ok in zip(similarity, present, strict=True)]
    return order_by_score(scores)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], *, k: int = RRF_K) -> list[int]:
    """Positions by the sum of 1 / (k + rank) over the rankings they appear in."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, position in enumerate(ranking, start=1):
            fused[position] = fused.get(position, 0.0) + 1.0 / (k + rank)
    return sorted(fused, key=lambda position: (-fused[position], position))
