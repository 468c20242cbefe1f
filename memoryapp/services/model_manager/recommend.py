"""A short list of models that fit this machine's memory, with what to expect of them for
memory extraction (facts, summaries, consolidation decisions in grammar-constrained JSON).

The expectations are general knowledge of these model sizes, not measurements made by this
project: this machine kind has no GPU and no hub access, and only the demo model was run.
The sizes are those of the Q4_K_M files; a model needs about its file size plus its context's
KV cache (some hundreds of MB at 4k tokens) in RAM, or in GPU memory to run there fully.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

GIB = 1 << 30
# Left for the rest of the stack (Postgres, Redis, the web process, the embedding model).
RESERVED_BYTES = 2 * GIB
# The KV cache and llama.cpp's buffers at a 4k context, on top of the file.
OVERHEAD_BYTES = GIB // 2


@dataclass(frozen=True)
class Recommendation:
    name: str
    repo: str
    filename: str
    size_bytes: int
    quality: str
    # Answers at a usable speed (several words a second) on a few CPU cores.
    cpu_ok: bool = True

    @property
    def needs_bytes(self) -> int:
        return self.size_bytes + OVERHEAD_BYTES


CATALOGUE = (
    Recommendation(
        "Qwen2.5 0.5B Instruct",
        "bartowski/Qwen2.5-0.5B-Instruct-GGUF",
        "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
        398 << 20,
        "Poor: valid JSON, but misses most facts and invents some. Better than the demo model.",
    ),
    Recommendation(
        "Llama 3.2 1B Instruct",
        "bartowski/Llama-3.2-1B-Instruct-GGUF",
        "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        808 << 20,
        "Weak: catches plain statements (names, places), often wrong on dates and on "
        "whether a fact replaces an old one.",
    ),
    Recommendation(
        "Llama 3.2 3B Instruct",
        "bartowski/Llama-3.2-3B-Instruct-GGUF",
        "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        2019 << 20,
        "Fair: most explicit facts and usable summaries; review its low-confidence facts.",
    ),
    Recommendation(
        "Qwen2.5 7B Instruct",
        "bartowski/Qwen2.5-7B-Instruct-GGUF",
        "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
        4683 << 20,
        "Good: reliable facts and dates, sensible merge/supersede decisions. The smallest "
        "size recommended for everyday use.",
    ),
    Recommendation(
        "Qwen2.5 14B Instruct",
        "bartowski/Qwen2.5-14B-Instruct-GGUF",
        "Qwen2.5-14B-Instruct-Q4_K_M.gguf",
        8988 << 20,
        "Very good: subtle and implied facts too.",
        cpu_ok=False,
    ),
    Recommendation(
        "Qwen2.5 32B Instruct",
        "bartowski/Qwen2.5-32B-Instruct-GGUF",
        "Qwen2.5-32B-Instruct-Q4_K_M.gguf",
        19851 << 20,
        "Best of these: close to what a hosted assistant extracts.",
        cpu_ok=False,
    ),
)


@dataclass(frozen=True)
class Machine:
    ram_bytes: int
    gpus: list[tuple[str, int]]  # name, memory in bytes

    @property
    def gpu_bytes(self) -> int:
        return max((memory for _, memory in self.gpus), default=0)


@dataclass(frozen=True)
class Advice:
    machine: Machine
    # Those that fit, best first, each with the GPU layers to use (-1 on a GPU that holds it).
    fitting: list[tuple[Recommendation, int]]


def machine_memory() -> Machine:
    """This machine's RAM, and its NVIDIA GPUs' memory when `nvidia-smi` sees any."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return Machine(ram_bytes=ram, gpus=_nvidia_gpus())


def _nvidia_gpus() -> list[tuple[str, int]]:
    command = shutil.which("nvidia-smi")
    if command is None:
        return []
    try:
        output = subprocess.run(  # noqa: S603 (a fixed command line)
            [command, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in output.splitlines():
        name, _, mebibytes = line.rpartition(",")
        if name.strip() and mebibytes.strip().isdigit():
            gpus.append((name.strip(), int(mebibytes) << 20))
    return gpus


def models_recommend(machine: Machine | None = None, *, count: int = 3) -> Advice:
    """The best `count` models of the catalogue that fit `machine` (this one by default): in
    the GPU's memory (every layer offloaded), else in the RAM left for the model if they are
    quick enough on a CPU (14B and larger are not: a few words a second at best)."""
    machine = machine or machine_memory()
    ram_budget = machine.ram_bytes - RESERVED_BYTES
    fitting: list[tuple[Recommendation, int]] = []
    for entry in reversed(CATALOGUE):
        if machine.gpu_bytes and entry.needs_bytes <= machine.gpu_bytes:
            fitting.append((entry, -1))
        elif entry.cpu_ok and entry.needs_bytes <= ram_budget:
            fitting.append((entry, 0))
    return Advice(machine=machine, fitting=fitting[:count])
