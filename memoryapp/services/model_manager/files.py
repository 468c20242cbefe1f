"""The GGUF model files the workers can load: those in LLM_MODEL_DIR, and the demo model.

Each file is described from its GGUF metadata (the `gguf` package's reader, over a memory
map), never by loading the model: a listing costs milliseconds a file, whatever its size.
"""

from __future__ import annotations

import re
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt
from django.conf import settings

from memoryapp.llm.models import DEMO_FILE, demo_model_path

GGUF_SUFFIX = ".gguf"
PART_SUFFIX = ".part"
# Chat templates recognised by a marker they contain, for a short name on the page.
TEMPLATE_MARKERS = (
    ("<|im_start|>", "ChatML"),
    ("<|start_header_id|>", "Llama 3"),
    ("<start_of_turn>", "Gemma"),
    ("[INST]", "Mistral/Llama 2"),
    ("<|user|>", "Zephyr/Phi"),
)


class MetadataReader(gguf.GGUFReader):
    """`gguf.GGUFReader` that reads an array field at once instead of making numpy views of
    each element: the vocabulary, token types and merges (about 150k items in the demo model,
    450k in larger ones) are all a listing would otherwise spend its time on (6.1 s for the
    demo model's file at load 4.2, 0.09 s this way). An array of numbers is one view; an
    array of strings keeps its type and length but not its elements (nothing here reads
    them)."""

    def _get_field_parts(
        self, orig_offs: int, raw_type: int
    ) -> tuple[int, list[npt.NDArray[Any]], list[int], list[gguf.GGUFValueType]]:
        if gguf.GGUFValueType(raw_type) != gguf.GGUFValueType.ARRAY:
            return super()._get_field_parts(orig_offs, raw_type)
        item_type = self._get(orig_offs, np.uint32)
        length = self._get(orig_offs + 4, np.uint64)
        kind = gguf.GGUFValueType(item_type[0])
        scalar = self.gguf_scalar_to_np.get(kind)
        if scalar is not None:  # numbers: one view of them all
            items = self._get(orig_offs + 12, scalar, length[0])
            types = [gguf.GGUFValueType.ARRAY, kind]
            return 12 + int(items.nbytes), [item_type, length, items], [2], types
        if kind != gguf.GGUFValueType.STRING:
            return super()._get_field_parts(orig_offs, raw_type)
        offset = orig_offs + 12
        data = self.data.data  # the memory map as a buffer, no copy
        order = "<" if (self.byte_order == "I") == (np.little_endian) else ">"
        for _ in range(int(length[0])):
            (size,) = struct.unpack_from(order + "Q", data, offset)
            offset += 8 + size
        types = [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.STRING]
        return offset - orig_offs, [item_type, length], [], types


@dataclass(frozen=True)
class ModelFile:
    """A model file as its metadata describes it; `error` says why it could not be read
    (then the other descriptions are empty)."""

    name: str
    path: Path
    size: int
    is_demo: bool = False
    title: str = ""
    architecture: str = ""
    quantisation: str = ""
    context_length: int | None = None
    layers: int | None = None
    chat_template: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def model_file_read(path: Path, *, is_demo: bool = False) -> ModelFile:
    """`path` described from its GGUF metadata; an unreadable or non-GGUF file gets an
    `error` instead of raising."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return ModelFile(path.name, path, 0, is_demo, error=f"Cannot read the file: {exc}")
    try:
        reader = MetadataReader(path)
        return _describe(reader, path, size, is_demo)
    except (ValueError, KeyError, IndexError, OSError, struct.error, TypeError) as exc:
        # The reader fails with whatever a bad byte leads it to: a wrong magic number, an
        # unknown type, a length past the end of the file.
        reason = str(exc) or type(exc).__name__
        return ModelFile(
            path.name, path, size, is_demo, error=f"Not a readable GGUF model file ({reason})."
        )


def model_files_list() -> list[ModelFile]:
    """Every `.gguf` file of LLM_MODEL_DIR by name, then the demo model when installed and
    not in that directory under its own name."""
    directory = Path(settings.LLM_MODEL_DIR)
    paths = sorted(directory.glob("*" + GGUF_SUFFIX)) if directory.is_dir() else []
    files = [model_file_read(path) for path in paths if path.is_file()]
    demo = demo_model_path()
    if demo is not None and not any(path.name == DEMO_FILE for path in paths):
        files.append(model_file_read(demo, is_demo=True))
    return files


def model_file_path(name: str) -> Path | None:
    """The file the manager calls `name` (its own listing's names), or None."""
    if not name or Path(name).name != name or not name.endswith(GGUF_SUFFIX):
        return None
    candidate = Path(settings.LLM_MODEL_DIR) / name
    if candidate.is_file():
        return candidate
    demo = demo_model_path()
    if demo is not None and name == DEMO_FILE:
        return demo
    return None


def _describe(reader: gguf.GGUFReader, path: Path, size: int, is_demo: bool) -> ModelFile:
    architecture = _text(reader, "general.architecture")
    return ModelFile(
        name=path.name,
        path=path,
        size=size,
        is_demo=is_demo,
        title=_text(reader, "general.name"),
        architecture=architecture,
        quantisation=_quantisation(reader),
        context_length=_integer(reader, f"{architecture}.context_length"),
        layers=_integer(reader, f"{architecture}.block_count"),
        chat_template=_template_name(_text(reader, "tokenizer.chat_template")),
    )


def _value(reader: gguf.GGUFReader, key: str) -> Any:
    field = reader.get_field(key)
    return None if field is None else field.contents()


def _text(reader: gguf.GGUFReader, key: str) -> str:
    value = _value(reader, key)
    return value if isinstance(value, str) else ""


def _integer(reader: gguf.GGUFReader, key: str) -> int | None:
    value = _value(reader, key)
    return int(value) if isinstance(value, int | np.integer) else None


def _quantisation(reader: gguf.GGUFReader) -> str:
    """The file type the converter recorded (e.g. Q4_K_M), else the commonest type of the
    quantised tensors."""
    file_type = _integer(reader, "general.file_type")
    if file_type is not None:
        try:
            return gguf.LlamaFileType(file_type).name.removeprefix("MOSTLY_")
        except ValueError:
            pass
    types = Counter(
        tensor.tensor_type.name
        for tensor in reader.tensors
        if tensor.tensor_type not in (gguf.GGMLQuantizationType.F32,)
    )
    return types.most_common(1)[0][0] if types else ""


def _template_name(template: str) -> str:
    """A short name for the file's chat template; "" when it has none (llama.cpp then
    needs LLM_CHAT_FORMAT)."""
    if not template:
        return ""
    for marker, name in TEMPLATE_MARKERS:
        if marker in template:
            return name
    first_line = re.sub(r"\s+", " ", template).strip()
    return f"custom ({first_line[:40]}…)" if len(first_line) > 40 else f"custom ({first_line})"
