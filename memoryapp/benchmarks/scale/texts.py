"""Filler text of realistic length for the benchmark's segments.

The dense path never reads the text, but its length decides how wide a row is, whether
Postgres moves the embeddings out of line (TOAST) and how much the full-text column costs
to build, so the lengths follow what segments hold: a title of a few words, a summary of
about 40 words, a retrieval key of about 100 (up to 600). The words are pronounceable
nonsense from a fixed vocabulary; rows draw their texts from a pool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POOL_SIZE = 2048
VOCABULARY_SIZE = 6000
_ONSETS = ("b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou")
_CODAS = ("", "n", "r", "s", "t", "l", "nd", "st")


@dataclass(frozen=True)
class TextPool:
    """Parallel lists of titles, summaries, retrieval keys and keyword lists."""

    titles: list[str]
    summaries: list[str]
    keys: list[str]
    keywords: list[list[str]]


def _vocabulary(rng: np.random.Generator) -> list[str]:
    words: set[str] = set()
    while len(words) < VOCABULARY_SIZE:
        syllables = int(rng.integers(1, 4))
        words.add(
            "".join(
                _ONSETS[rng.integers(len(_ONSETS))]
                + _VOWELS[rng.integers(len(_VOWELS))]
                + _CODAS[rng.integers(len(_CODAS))]
                for _ in range(syllables)
            )
        )
    return sorted(words)


def _sentences(words: list[str], count: int, rng: np.random.Generator) -> str:
    picked = rng.choice(len(words), size=count)
    text = " ".join(words[i] for i in picked)
    return text[0].upper() + text[1:] + "."


def _lengths(
    rng: np.random.Generator, median: float, sigma: float, low: int, high: int
) -> list[int]:
    drawn = np.clip(rng.lognormal(np.log(median), sigma, POOL_SIZE), low, high)
    return [int(n) for n in drawn]


def text_pool(rng: np.random.Generator) -> TextPool:
    words = _vocabulary(rng)
    titles = [_sentences(words, int(rng.integers(3, 9)), rng)[:-1] for _ in range(POOL_SIZE)]
    summaries = [_sentences(words, n, rng) for n in _lengths(rng, 40, 0.4, 8, 120)]
    keys = [_sentences(words, n, rng) for n in _lengths(rng, 100, 0.6, 15, 600)]
    keywords = [
        [words[i] for i in rng.choice(len(words), size=int(rng.integers(3, 7)), replace=False)]
        for _ in range(POOL_SIZE)
    ]
    return TextPool(titles, summaries, keys, keywords)
