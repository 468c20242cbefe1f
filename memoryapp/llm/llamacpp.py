"""The llama.cpp backend: the only module in the project that imports `llama_cpp`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import llama_cpp
from django.conf import settings
from llama_cpp.llama_grammar import json_schema_to_gbnf

from memoryapp.llm.base import Chunk, Message, ModelInfo, Source, StreamFinish
from memoryapp.llm.errors import ModelLoadError, ModelNotFound, PromptTooLong, SchemaError
from memoryapp.llm.models import ModelChoice, Sampling, sampling_for


class LlamaCppBackend:
    def __init__(
        self,
        path: Path,
        *,
        source: Source,
        context_size: int,
        threads: int = 0,
        gpu_layers: int = 0,
        seed: int = 42,
        chat_format: str = "",
        sampling: Sampling | None = None,
    ) -> None:
        """`threads=0` lets llama.cpp choose; `gpu_layers=-1` offloads every layer;
        `chat_format=""` uses the template stored in the GGUF file; `sampling=None` is
        llama.cpp's default sampling."""
        self._path = path
        self._threads = threads
        self._seed = seed
        self._chat_format = chat_format
        self.sampling = sampling or Sampling()
        self._llama: llama_cpp.Llama | None = None
        self._grammars_checked: set[str] = set()
        self._info = ModelInfo(
            name=path.name,
            path=path,
            source=source,
            is_demo=source == "demo",
            context_size=context_size,
            gpu_layers=gpu_layers,
        )

    @classmethod
    def from_settings(cls, path: Path, source: Source) -> LlamaCppBackend:
        return cls(
            path,
            source=source,
            context_size=settings.LLM_CONTEXT_SIZE,
            threads=settings.LLM_THREADS,
            gpu_layers=settings.LLM_GPU_LAYERS,
            seed=settings.LLM_SEED,
            chat_format=settings.LLM_CHAT_FORMAT,
            sampling=sampling_for(path.name),
        )

    @classmethod
    def from_choice(cls, choice: ModelChoice) -> LlamaCppBackend:
        """The model manager's choice: its file, GPU layers and context size."""
        return cls(
            choice.path,
            source=choice.source,
            context_size=choice.context_size,
            threads=settings.LLM_THREADS,
            gpu_layers=choice.gpu_layers,
            seed=settings.LLM_SEED,
            chat_format=settings.LLM_CHAT_FORMAT,
            sampling=sampling_for(choice.path.name),
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def load(self) -> None:
        self._model()

    def close(self) -> None:
        """Free the model's memory now (a switch to another model), not at garbage collection."""
        if self._llama is not None:
            self._llama.close()
            self._llama = None

    def _model(self) -> llama_cpp.Llama:
        if self._llama is not None:
            return self._llama
        if not self._path.is_file():
            raise ModelNotFound(
                f"Model file {str(self._path)!r} does not exist. Check LLM_MODEL_PATH (or "
                "LLM_MODEL_REPO/LLM_MODEL_FILE and LLM_MODEL_DIR)."
            )
        try:
            llama = llama_cpp.Llama(**self._llama_arguments())
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"llama.cpp could not load {str(self._path)!r} ({exc}). Is it a GGUF file this "
                "llama.cpp version supports? Check LLM_MODEL_PATH, LLM_GPU_LAYERS and "
                "LLM_CONTEXT_SIZE."
            ) from exc
        # A context size of 0 means "the model's own"; report what llama.cpp chose.
        self._info = replace(self._info, context_size=llama.n_ctx())
        self._llama = llama
        return llama

    def _llama_arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model_path": str(self._path),
            "n_ctx": self._info.context_size,
            "n_threads": self._threads or None,
            "n_gpu_layers": self._info.gpu_layers,
            "seed": self._seed,
            # How far back the repetition penalties look.
            "last_n_tokens_size": self.sampling.repeat_last_n,
            "verbose": False,
        }
        if self._chat_format:
            arguments["chat_format"] = self._chat_format
        return arguments

    def count_tokens(self, text: str) -> int:
        return len(self._model().tokenize(text.encode(), add_bos=False))

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: Mapping[str, Any] | None,
        seed: int | None,
    ) -> Iterator[Chunk]:
        extra: dict[str, Any] = {}
        if json_schema is not None:
            self._check_grammar_parses(json_schema)
            extra["response_format"] = {"type": "json_object", "schema": dict(json_schema)}
        stream = self._model().create_chat_completion(
            messages=cast(Any, list(messages)),
            stream=True,
            max_tokens=max_tokens,
            temperature=self.sampling.temperature(temperature),
            seed=seed,
            **self.sampling.arguments(structured=json_schema is not None),
            **extra,
        )
        chunks = cast(Iterator[dict[str, Any]], stream)
        try:
            yield from _chunks(chunks)
        except ValueError as exc:
            if "exceed context window" in str(exc):
                raise PromptTooLong(f"The prompt does not fit the context window: {exc}") from exc
            raise
        finally:
            # Stops llama.cpp at once when the adapter abandons the stream.
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _check_grammar_parses(self, json_schema: Mapping[str, Any]) -> None:
        """Raise `SchemaError` unless llama.cpp itself accepts the schema's grammar.

        llama.cpp refuses grammars it finds too large (e.g. a long maxLength repeats a rule
        thousands of times) and would then crash while sampling, so ask it first, once per
        schema.
        """
        key = json.dumps(json_schema, sort_keys=True)
        if key in self._grammars_checked:
            return
        check_grammar(json_schema)
        grammar = json_schema_to_gbnf(json.dumps(json_schema)).encode()
        vocab = llama_cpp.llama_model_get_vocab(self._model().model)
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar, b"root")
        if not sampler:
            raise SchemaError(
                "llama.cpp cannot use the grammar of this response schema (too large: "
                "lower the maxLength or maxItems of its fields)"
            )
        llama_cpp.llama_sampler_free(sampler)
        self._grammars_checked.add(key)


def check_grammar(json_schema: Mapping[str, Any]) -> None:
    """Raise `SchemaError` unless llama.cpp can turn `json_schema` into a grammar.

    llama-cpp-python would silently fall back to "any JSON" for such a schema.
    """
    try:
        json_schema_to_gbnf(json.dumps(json_schema))
    except Exception as exc:  # the converter fails with asserts, KeyErrors, ValueErrors...
        raise SchemaError(f"The response schema cannot be turned into a grammar: {exc}") from exc


def _chunks(stream: Iterator[dict[str, Any]]) -> Iterator[Chunk]:
    for response in stream:
        choice = response["choices"][0]
        text = choice.get("delta", {}).get("content") or ""
        finish = _finish_reason(choice.get("finish_reason"))
        if text or finish:
            yield Chunk(text, finish)


def _finish_reason(reason: str | None) -> StreamFinish | None:
    if reason is None:
        return None
    return "length" if reason == "length" else "stop"
