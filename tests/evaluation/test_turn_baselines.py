"""BM25, dense ranking and reciprocal-rank fusion on tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memoryapp.evaluation.turn_baselines import (
    BM25,
    dense_rank,
    reciprocal_rank_fusion,
    words,
)

DOCUMENTS = [
    "Ann: I adopted a dog named Pixel.",
    "Bob: Look at my garden, the roses are red.",
    "Ann: Pixel the dog learned to sit.",
]


def test_words_are_lowercase_word_characters() -> None:
    assert words("Pixel's DOG, sits!") == ["pixel", "s", "dog", "sits"]


def test_bm25_scores_a_single_term_by_hand() -> None:
    index = BM25(["dog dog cat", "cat"])
    # "dog": df=1, N=2 -> idf = ln(1 + 1.5/1.5) = ln 2; doc 0: tf=2, |d|=3, avgdl=2.
    norm = 1 - 0.75 + 0.75 * 3 / 2
    expected = math.log(2) * 2 * 2.2 / (2 + 1.2 * norm)

    scores = index.scores("Dog?")

    assert scores[0] == pytest.approx(expected)
    assert scores[1] == 0.0


def test_bm25_ranks_the_documents_sharing_rare_words_first() -> None:
    index = BM25(DOCUMENTS)

    assert index.rank("What did the dog Pixel learn?")[:2] == [2, 0]
    assert index.rank("red roses")[0] == 1


def test_bm25_keeps_document_order_on_ties() -> None:
    assert BM25(["a", "b", "c"]).rank("zzz") == [0, 1, 2]


def test_dense_ranks_by_cosine_and_puts_missing_embeddings_last() -> None:
    embeddings = np.array([[1, 0], [0.6, 0.8], [0, 0]], dtype=np.float32)
    question = np.array([0, 1], dtype=np.float32)

    assert dense_rank(question, embeddings, [True, True, False]) == [1, 0, 2]


def test_reciprocal_rank_fusion_adds_one_over_sixty_plus_rank() -> None:
    # 0: 1/61 + 1/63; 1: 1/62 + 1/61; 2: 1/63 + 1/62 -> 1 beats 0 beats 2.
    assert reciprocal_rank_fusion([[0, 1, 2], [1, 2, 0]]) == [1, 0, 2]
    # A turn in one list only still counts.
    assert reciprocal_rank_fusion([[3], [4, 3]]) == [3, 4]
