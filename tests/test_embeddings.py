"""The real all-MiniLM-L6-v2 ONNX model through memoryapp.embeddings; no database needed."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pytest_django.fixtures import Settings

from memoryapp.embeddings import (
    BATCH_MAX_TOKENS,
    EMBEDDING_DIM,
    EmbeddingModelError,
    embed_text,
    embed_texts,
    embeddings_status,
    model_fingerprint,
    padded_batches,
    reset_embedder,
)


@pytest.fixture
def configure(settings: Settings) -> Iterator[Settings]:
    """Settings to change before the model loads; the process-wide model is reloaded."""
    reset_embedder()
    yield settings
    reset_embedder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_same_text_twice_gives_identical_vectors() -> None:
    first = embed_texts(["My dog is called Pixel."])
    second = embed_texts(["My dog is called Pixel."])

    assert np.array_equal(first, second)


def test_paraphrase_is_closer_than_an_unrelated_sentence() -> None:
    moved, paraphrase, unrelated = embed_texts(
        [
            "I moved to Lisbon in March.",
            "In March I relocated to Lisbon.",
            "The recipe needs two eggs and a cup of flour.",
        ]
    )

    assert cosine(moved, paraphrase) > 0.8
    assert cosine(moved, paraphrase) > cosine(moved, unrelated) + 0.5


def test_batch_and_single_calls_agree() -> None:
    texts = ["Pixel chased the cat.", "", "Work starts on Monday at the new office in Porto."]

    batch = embed_texts(texts)
    single = np.array([embed_text(text) for text in texts], dtype=np.float32)

    assert np.allclose(batch, single, atol=1e-5)


def test_a_text_given_twice_in_one_call_gets_the_vector_of_embedding_it_alone() -> None:
    texts = ["I moved to Lisbon in March.", "Thanks!", "I moved to Lisbon in March."]

    vectors = embed_texts(texts)

    assert vectors.shape == (3, EMBEDDING_DIM)
    assert np.array_equal(vectors[0], vectors[2])
    assert np.allclose(vectors[0], embed_text(texts[0]), atol=1e-5)
    assert np.allclose(vectors[1], embed_text("Thanks!"), atol=1e-5)


def test_vectors_are_float32_unit_length_and_384_wide() -> None:
    vectors = embed_texts(["one", "two words", ""])
    vector = embed_text("a list for pgvector")

    assert EMBEDDING_DIM == 384
    assert vectors.shape == (3, EMBEDDING_DIM)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len(vector) == EMBEDDING_DIM
    assert all(isinstance(value, float) for value in vector)


def test_batching_by_length_keeps_the_input_order(configure: Settings) -> None:
    configure.EMBEDDING_BATCH_SIZE = 2
    texts = [
        "A long sentence about the garden, the roses, the shed and the old apple tree.",
        "Hi",
        "Medium length sentence here.",
        "",
        "Another fairly long sentence, this one about trains, tickets and timetables.",
    ]

    batched = embed_texts(texts)

    for row, text in enumerate(texts):
        assert np.allclose(batched[row], embed_text(text), atol=1e-5), text


def test_empty_input_gives_an_empty_array() -> None:
    vectors = embed_texts([])

    assert vectors.shape == (0, EMBEDDING_DIM)
    assert vectors.dtype == np.float32


def test_one_string_instead_of_a_list_is_refused() -> None:
    with pytest.raises(TypeError):
        embed_texts("not a list")


def test_text_beyond_256_word_pieces_is_truncated() -> None:
    long_text = "memory " * 300

    cut, longer = embed_texts([long_text, long_text + "Pixel the dog lives in Lisbon."])

    assert np.array_equal(cut, longer)


def test_missing_model_path_raises_an_error_naming_the_setting(
    configure: Settings, tmp_path: Path
) -> None:
    configure.EMBEDDING_MODEL_PATH = str(tmp_path / "missing.onnx")

    with pytest.raises(EmbeddingModelError, match="EMBEDDING_MODEL_PATH"):
        embed_texts(["anything"])


def test_missing_tokenizer_path_raises_an_error_naming_the_setting(
    configure: Settings, tmp_path: Path
) -> None:
    configure.EMBEDDING_TOKENIZER_PATH = str(tmp_path / "missing.json")

    with pytest.raises(EmbeddingModelError, match="EMBEDDING_TOKENIZER_PATH"):
        embed_texts(["anything"])


def test_status_reports_without_loading_the_model(configure: Settings) -> None:
    before = embeddings_status()
    embed_texts(["load it now"])
    after = embeddings_status()

    assert before["state"] == "not_loaded"
    assert before["model"] == "all-MiniLM-L6-v2"
    assert before["path"].endswith("model.onnx")
    assert before["dim"] == EMBEDDING_DIM
    assert after["state"] == "loaded"
    assert after["error"] is None
    json.dumps(after)


def test_status_reports_a_model_that_cannot_be_found(configure: Settings, tmp_path: Path) -> None:
    configure.EMBEDDING_MODEL_PATH = str(tmp_path / "missing.onnx")

    status = embeddings_status()

    assert status["state"] == "failed"
    assert "EMBEDDING_MODEL_PATH" in status["error"]
    json.dumps(status)


def test_fingerprint_changes_with_the_model_file(configure: Settings, tmp_path: Path) -> None:
    packaged = model_fingerprint()
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not really a model")
    configure.EMBEDDING_MODEL_PATH = str(other)

    assert "all-MiniLM-L6-v2" in packaged
    assert str(EMBEDDING_DIM) in packaged
    assert model_fingerprint() != packaged
    assert "other.onnx" in model_fingerprint()


def test_a_file_that_is_not_a_model_raises_an_error(configure: Settings, tmp_path: Path) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(b"not really a model")
    configure.EMBEDDING_MODEL_PATH = str(other)

    with pytest.raises(EmbeddingModelError, match="EMBEDDING_MODEL_PATH"):
        embed_texts(["anything"])


def test_padded_batches_keep_short_texts_apart_from_long_ones() -> None:
    lengths = [8] * 10 + [250] * 3

    slices = padded_batches(lengths, batch_size=32)

    # Contiguous, in order, covering every text once.
    assert slices[0][0] == 0 and slices[-1][1] == len(lengths)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(slices))
    # The short texts are not padded to 250 word pieces.
    assert (0, 10) in slices
    assert all(lengths[end - 1] * (end - start) <= BATCH_MAX_TOKENS for start, end in slices)


def test_padded_batches_respect_the_batch_size_and_let_a_long_text_run_alone() -> None:
    slices = padded_batches([5] * 7, batch_size=3)
    assert len(slices) == 3 and max(end - start for start, end in slices) == 3
    assert padded_batches([BATCH_MAX_TOKENS + 1], batch_size=32) == [(0, 1)]
    assert padded_batches([], batch_size=32) == []
