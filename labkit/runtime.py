"""Where the kit runs: the device, the profile, seeding, the cache folder, and quiet imports.

A *profile* is one row of :data:`PROFILES`: which models to use and how much
work each lab may do (examples, steps, tokens). It is picked automatically
(``gpu`` when CUDA is present, ``ci`` under CI, ``cpu`` otherwise) and can be
forced with the environment variable ``LABKIT_PROFILE``.

>>> get_profile("ci").generator
'smollm2-135m'
>>> rng = seed_everything(0)
>>> rng.random() == seed_everything(0).random()
True
"""

from __future__ import annotations

import functools
import importlib
import os
import platform
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import LabkitError

_SAID: set[str] = set()


def say_once(message: str) -> None:
    """Print ``message`` the first time it is said in this process, never again."""
    if message not in _SAID:
        _SAID.add(message)
        print(message, file=sys.stderr)


def progress_off() -> bool:
    """True when progress bars are switched off with ``TQDM_DISABLE=1`` (the notebook tests do,
    so stored outputs stay deterministic). Pass ``disable=progress_off() or ...`` to tqdm."""
    return os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")


# ---------------------------------------------------------------------------
# profiles


@dataclass(frozen=True)
class Profile:
    """What one kind of machine may do. Budgets are per lab or per ladder rung."""

    name: str
    description: str
    generator: str  # a key of labkit.models.MODELS
    embedder: str
    memory_gb: float  # GiB the training tensors may plan to use (labkit.tuning.plan.plan_fit); the process needs more
    # The experiment's budgets, the same on every profile (a profile picks the machine, never the experiment;
    # which questions are scored is labkit.course.sample's): tests shrink them to run fast.
    max_new_tokens: int = 32  # tokens generated per answer
    max_format_tokens: int = 160  # tokens generated per JSON reply


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile("ci", "2-core CPU, minutes per lab (CI and quick runs)", "smollm2-135m", "minilm-l6", memory_gb=2.0),
        Profile("cpu", "laptop CPU, no key, no GPU", "smollm2-135m", "minilm-l6", memory_gb=2.0),
        Profile("gpu", "T4-class GPU (Colab): fp16, no bf16, 15 GB", "qwen2.5-0.5b", "bge-small", memory_gb=15.0),
    ]
}


def get_profile(name: str | None = None) -> Profile:
    """Return the named profile, else ``$LABKIT_PROFILE``, else the automatic choice.

    >>> get_profile("cpu").embedder
    'minilm-l6'
    """
    name = name or os.environ.get("LABKIT_PROFILE") or _auto_profile_name()
    if name not in PROFILES:
        raise LabkitError(
            f"unknown profile {name!r}",
            f"set LABKIT_PROFILE to one of: {', '.join(PROFILES)} (or unset it for the automatic choice)",
        )
    return PROFILES[name]


def _auto_profile_name() -> str:
    if pick_device() == "cuda":
        return "gpu"
    return "ci" if os.environ.get("CI") else "cpu"


# ---------------------------------------------------------------------------
# device and seeding


def pick_device() -> str:
    """``"cuda"``, then ``"mps"``, then ``"cpu"``; the choice is said once."""
    import torch

    if torch.cuda.is_available():
        device = "cuda"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    if device == "cpu":
        say_once("labkit: no GPU found, running on the CPU (profiles ci/cpu).")
    else:
        say_once(f"labkit: running on {device}.")
    return device


def bf16_supported(device: str) -> bool:
    """Whether bfloat16 runs at full speed on ``device`` (a T4 says no)."""
    import torch

    if device == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device == "cpu":
        return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})
    return False


def inference_dtype(device: str):
    """The dtype labkit generates in on ``device``: bfloat16 where it runs at full speed (recent GPUs, and
    CPUs with AVX-512 bf16 or AMX: about twice as fast as float32 there), float16 on other GPUs, float32
    on other CPUs. Stored lab outputs were made on a bf16 CPU, so a CPU without bf16 can word some answers
    differently.

    >>> str(inference_dtype("mps"))
    'torch.float32'
    """
    import torch

    if bf16_supported(device):
        return torch.bfloat16
    return torch.float16 if device == "cuda" else torch.float32


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim`` from the C library already loaded, or None (not Linux, or musl)."""
    import ctypes

    return getattr(ctypes.CDLL(None), "malloc_trim", None) if platform.system() == "Linux" else None


def trim_heap() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``). A training step frees its
    activations, but glibc keeps the pages, scattered between live blocks of other sizes, so without this a
    process's footprint creeps up step after step. A no-op where there is no glibc.

    >>> trim_heap()
    """
    trim = _malloc_trim()  # looked up once: training calls this after every step
    if trim is not None:
        trim(0)


def release_memory() -> None:
    """Collect garbage, then :func:`trim_heap` (the ladder calls this between rungs).

    >>> release_memory()
    """
    import gc

    gc.collect()
    trim_heap()


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def seed_everything(seed: int) -> random.Random:
    """Seed Python, NumPy and torch, and return a ``random.Random(seed)`` to pass on.

    Library internals (dropout, weight init) read the global seeds; labkit's own
    code takes the returned generator instead of touching global state.
    """
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass
    return random.Random(seed)


def cache_dir() -> Path:
    """Where converted models, adapters and embeddings live: ``$LABKIT_CACHE``, else
    ``$XDG_CACHE_HOME/labkit``, else ``~/.cache/labkit``."""
    if os.environ.get("LABKIT_CACHE"):
        return Path(os.environ["LABKIT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "labkit"


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def quiet_import(module: str):
    """Import ``module`` with its import-time chatter silenced.

    bitsandbytes prints "Failed to load CPU gemm_4bit_forward from kernels-community"
    on CPU: a harmless fallback (that optional package would fetch kernels from the hub).
    """
    import contextlib
    import io
    import logging

    if module in sys.modules:
        return sys.modules[module]
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return importlib.import_module(module)
    finally:
        logging.disable(previous)
