"""How much memory a LoRA/QLoRA run takes, and the micro-batch, accumulation and checkpointing that fit.

:func:`estimate_memory` counts peak training memory by part (weights, adapters and optimizer state,
activations, logits) for a Llama/Qwen-style model; :func:`plan_fit` picks the fastest settings whose
estimate fits a budget, or refuses with a message that says what to change. :func:`resolve_quantize`
says what ``TrainConfig.quantize="auto"`` means on a device. Nothing here loads a model: the planner
reads only the model's config, so it can be tried on shapes this machine could never train.

>>> from types import SimpleNamespace as NS
>>> smollm_135m = NS(hidden_size=576, num_hidden_layers=30, intermediate_size=1536, vocab_size=49152,
...                  num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
>>> round(lora_parameters(smollm_135m, r=16) / 1e6, 1)
4.9
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labkit.errors import LabkitError

if TYPE_CHECKING:  # only for the annotations: the planner never imports the trainer
    from labkit.tuning.train import TrainConfig

GIB = 1024 ** 3


@dataclass(frozen=True)
class FitPlan:
    """What :func:`plan_fit` chose, and the estimate (GiB per part) it chose it by."""

    micro_batch: int
    grad_accum: int
    gradient_checkpointing: bool
    estimate_gib: dict
    budget_gib: float

    @property
    def total_gib(self) -> float:
        return sum(self.estimate_gib.values())




# ---------------------------------------------------------------------------
# memory: estimate and fit


def _arch(model_config) -> dict:
    c = model_config
    heads = c.num_attention_heads
    return {"hidden": c.hidden_size, "layers": c.num_hidden_layers, "inter": c.intermediate_size, "heads": heads,
            "vocab": c.vocab_size, "kv": c.hidden_size * getattr(c, "num_key_value_heads", heads) // heads,
            "tied": bool(getattr(c, "tie_word_embeddings", False))}


def lora_parameters(model_config, r: int) -> int:
    """Adapter parameters for LoRA rank ``r`` on every linear layer of a Llama/Qwen-style block.

    >>> from types import SimpleNamespace as NS
    >>> lora_parameters(NS(hidden_size=8, num_hidden_layers=2, intermediate_size=16, vocab_size=10,
    ...                    num_attention_heads=2, num_key_value_heads=1), r=1)
    256
    """
    a = _arch(model_config)
    h, kv, i = a["hidden"], a["kv"], a["inter"]
    per_layer = (h + h) + 2 * (h + kv) + (h + h) + 2 * (h + i) + (i + h)  # q, k, v, o, gate, up, down
    return a["layers"] * r * per_layer


def estimate_memory(model_config, *, quantize: str, compute_bytes: int, micro_batch: int, seq_len: int,
                    lora_r: int, gradient_checkpointing: bool, scored_share: float = 1.0,
                    loss_chunk_tokens: int | None = None, full_attention: bool = False) -> dict:
    """Peak training memory in GiB, by part, for one micro-batch of ``micro_batch`` x ``seq_len`` tokens.

    Activations per token and layer count what a Llama-style block keeps for backward (norm inputs,
    q/k/v/o inputs, attention outputs, the gated MLP's three intermediate tensors); with gradient
    checkpointing only each layer's input is kept, plus one layer recomputed at a time. Logits are
    counted for the scored share of tokens (fp32 logits, their gradient, and the low-precision copy).
    ``full_attention``: attention is computed in full and its probabilities (heads x tokens x tokens per
    sequence and layer) are kept for backward, as PyTorch does on a CPU; a GPU's fused kernels keep none.
    On this CPU (135M model, 640-token RAFT examples) that term is a third of the measured peak.

    >>> from types import SimpleNamespace as NS
    >>> qwen_1_5b = NS(hidden_size=1536, num_hidden_layers=28, intermediate_size=8960, vocab_size=151936,
    ...                num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True)
    >>> full = estimate_memory(qwen_1_5b, quantize="nf4", compute_bytes=2, micro_batch=8, seq_len=512,
    ...                        lora_r=16, gradient_checkpointing=False)
    >>> 20 < sum(full.values()) < 32   # a raw loop measured 26.7 GiB on an H100 for this shape
    True
    >>> fit = estimate_memory(qwen_1_5b, quantize="nf4", compute_bytes=2, micro_batch=8, seq_len=512,
    ...                       lora_r=16, gradient_checkpointing=True, scored_share=0.5)
    >>> sum(fit.values()) < 15
    True
    """
    a = _arch(model_config)
    h, layers, inter, vocab, kv = a["hidden"], a["layers"], a["inter"], a["vocab"], a["kv"]
    linear = layers * (2 * h * h + 2 * h * kv + 3 * h * inter)
    embeddings = vocab * h * (1 if a["tied"] else 2)
    weight_bytes = 0.5 + 0.5 / 64 * 0.25 + 4 / 4096 if quantize == "nf4" else compute_bytes  # NF4 + double-quantized scales
    embed_bytes = 4 if quantize == "nf4" else compute_bytes  # k-bit preparation keeps embeddings in fp32
    tokens = micro_batch * seq_len
    per_token_layer = 3 * (9 * h + 3 * kv + 4 * inter)  # bytes, a mix of fp32 and 16-bit tensors
    if gradient_checkpointing:
        activations = tokens * (layers * h * 4 + per_token_layer)
    else:
        activations = tokens * layers * per_token_layer
    if full_attention:
        kept = 1 if gradient_checkpointing else layers
        activations += micro_batch * a["heads"] * seq_len ** 2 * compute_bytes * kept
    scored = tokens * scored_share
    if gradient_checkpointing and loss_chunk_tokens:  # the output layer runs in checkpointed chunks
        scored = min(scored, loss_chunk_tokens)
    logits = scored * vocab * (4 + 4 + compute_bytes)
    parts = {
        "weights": linear * weight_bytes + embeddings * embed_bytes,
        "adapters+optimizer": lora_parameters(model_config, lora_r) * 16,  # fp32 weight, grad, Adam m and v
        "activations": activations,
        "logits": logits,
    }
    return {k: v / GIB for k, v in parts.items()}


def plan_fit(model_config, config: TrainConfig, budget_gib: float, compute_bytes: int,
             scored_share: float = 1.0, device: str = "cuda") -> FitPlan:
    """The fastest (micro-batch, accumulation, checkpointing) whose estimate fits ``budget_gib``
    (90% of it, for the allocator's slack); raise a LabkitError when even one sequence does not fit.

    On a GPU, checkpointing (a third more compute) is tried before halving the micro-batch (which leaves
    a GPU idle); on a CPU, small micro-batches cost little, so every micro-batch is tried without
    checkpointing first.

    >>> from types import SimpleNamespace as NS
    >>> from labkit.tuning.train import TrainConfig
    >>> qwen_1_5b = NS(hidden_size=1536, num_hidden_layers=28, intermediate_size=8960, vocab_size=151936,
    ...                num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True)
    >>> plan = plan_fit(qwen_1_5b, TrainConfig(batch_size=8, max_seq_len=512), budget_gib=14.0, compute_bytes=2)
    >>> plan.gradient_checkpointing, plan.micro_batch * plan.grad_accum
    (True, 8)
    """
    if config.batch_size < 1 or config.max_seq_len < 2:
        raise LabkitError(f"batch_size={config.batch_size}, max_seq_len={config.max_seq_len}",
                          "use batch_size >= 1 and max_seq_len >= 2")
    usable = 0.9 * budget_gib
    quantize = resolve_quantize(config.quantize, device)
    checkpointing = (False, True) if config.gradient_checkpointing is None else (config.gradient_checkpointing,)
    micros = [config.batch_size >> i for i in range(config.batch_size.bit_length())]
    if device == "cpu":
        candidates = [(m, c) for c in checkpointing for m in micros]
    else:
        candidates = [(m, c) for m in micros for c in checkpointing]
    tried = None
    for micro, ckpt in candidates:
        estimate = estimate_memory(model_config, quantize=quantize, compute_bytes=compute_bytes,
                                   micro_batch=micro, seq_len=config.max_seq_len, lora_r=config.lora_r,
                                   gradient_checkpointing=ckpt, scored_share=scored_share,
                                   loss_chunk_tokens=config.loss_chunk_tokens, full_attention=device == "cpu")
        tried = estimate
        if sum(estimate.values()) <= usable:
            return FitPlan(micro, math.ceil(config.batch_size / micro), ckpt, estimate, budget_gib)
    need = sum(tried.values())
    how = "with gradient checkpointing" if checkpointing[-1] else "without gradient checkpointing (forced)"
    fixes = ["shorten max_seq_len"] + (["use quantize='nf4'"] if quantize != "nf4" else []) + \
        (["allow gradient checkpointing (gradient_checkpointing=None)"] if not checkpointing[-1] else []) + \
        ["pick a smaller model (LABKIT_PROFILE=ci)", "raise TrainConfig.memory_gb if this machine really has more memory"]
    raise LabkitError(
        f"training does not fit: even one sequence of {config.max_seq_len} tokens {how} "
        f"needs about {need:.1f} GiB ({', '.join(f'{k} {v:.1f}' for k, v in tried.items())}); the budget is "
        f"{budget_gib:.1f} GiB", ", or ".join(fixes))


def resolve_quantize(quantize: str, device: str) -> str:
    """What ``TrainConfig.quantize`` means on ``device``: ``"auto"`` is 4-bit NF4 (QLoRA) on a GPU, where it
    is what lets a 1.5B model train on a T4, and plain LoRA on a 16-bit base elsewhere: on a CPU, measured
    with the embedded model, 4-bit trains about a fifth slower and takes no less memory (docs/BENCHMARKS.md).

    >>> resolve_quantize("auto", "cuda"), resolve_quantize("auto", "cpu"), resolve_quantize("nf4", "cpu")
    ('nf4', 'none', 'nf4')
    """
    if quantize not in ("auto", "nf4", "none"):
        raise LabkitError(f"unknown quantize={quantize!r}",
                          "use 'auto' (the default), 'nf4' (QLoRA: a 4-bit base) or 'none' (plain LoRA)")
    if quantize == "auto":
        return "nf4" if device == "cuda" else "none"
    return quantize

