"""Fine-tuning with LoRA adapters: QLoRA (a 4-bit NF4 base) on a GPU, plain LoRA on a 16-bit base on a CPU.

One path, one :class:`TrainConfig`. The base model is frozen (and, with ``quantize="nf4"``, the default
on a GPU, stored in 4 bits with double quantization, as in Dettmers et al. 2023); small LoRA matrices on
every linear layer are the only weights that learn. The loss is taken on the completion only:
prompt tokens are masked, and the output layer is applied only at the positions that are
scored, which saves the largest activation of a small model (its logits over the vocabulary).
Sequences are grouped by length so that little padding is computed.

Before training, :func:`plan_fit` estimates peak memory (weights, adapters, optimizer state,
activations, logits) for the model and the device, and picks the micro-batch, gradient
accumulation and gradient checkpointing that fit the profile's budget, or refuses with a
message that says what to change.

>>> examples = [Example([{"role": "user", "content": "2+2?"}], "4")] * 8
>>> model, tokenizer = load_trainable("smollm2-135m", TrainConfig())     # doctest: +SKIP
>>> result = train(model, tokenizer, examples, TrainConfig(epochs=2))   # doctest: +SKIP
>>> result.losses[-1] < result.losses[0]                                # doctest: +SKIP
True
>>> tuned = merged_copy(model)        # a plain model with the adapter folded in  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from labkit.errors import LabkitError
from labkit.generate import render
from labkit.models import model_source, offline_hint
from labkit.runtime import get_profile, inference_dtype, pick_device, progress_off, quiet_import, say_once, trim_heap
from labkit.scoreboard import new_figure
from labkit.storage import read_jsonl, verify_folder, write_folder
from labkit.tuning.parallel import processes
from labkit.tuning.plan import GIB, FitPlan, plan_fit, resolve_quantize

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json", "labkit-train.json")


@dataclass(frozen=True)
class Example:
    """One training example: the conversation so far, and the reply the model should learn to give."""

    messages: list[dict]
    completion: str


def read_examples(path: Path | str) -> list[Example]:
    """Training examples from a JSONL file, one a line: ``{"messages": [{"role": ..., "content": ...}, ...],
    "completion": "..."}``, or ``{"prompt": "...", "completion": "..."}`` for a single user turn. A bad line
    is an error naming the file, the line and the fix.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "examples.jsonl"
    >>> _ = path.write_text('{"prompt": "2+2?", "completion": "4"}\\n')
    >>> read_examples(path)
    [Example(messages=[{'role': 'user', 'content': '2+2?'}], completion='4')]
    """
    examples = []
    for where, row in read_jsonl(Path(path)):
        messages = [{"role": "user", "content": row["prompt"]}] if isinstance(row.get("prompt"), str) else row.get("messages")
        if not (isinstance(messages, list) and messages and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages)):
            raise LabkitError(f"{where}: no conversation (a 'prompt' text, or 'messages': a list of "
                              "{\"role\": ..., \"content\": ...})",
                              'write e.g. {"prompt": "What is 2+2?", "completion": "4"}')
        if not isinstance(row.get("completion"), str) or not row["completion"].strip():
            raise LabkitError(f"{where}: 'completion' (the reply to learn) must be non-empty text",
                              'write it as "completion": "..."')
        examples.append(Example(messages, row["completion"]))
    if not examples:
        raise LabkitError(f"{path} holds no examples", "write one JSON object a line")
    return examples


@dataclass(frozen=True)
class TrainConfig:
    """How to fine-tune. ``batch_size`` is sequences per optimizer step; :func:`plan_fit` may split it
    into micro-batches with gradient accumulation."""

    epochs: float = 2.0
    max_steps: int | None = None  # a cap on optimizer steps (None: epochs decide)
    batch_size: int = 8
    learning_rate: float = 5e-4
    warmup_steps: int = 3
    max_seq_len: int = 384
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    quantize: str = "auto"  # "nf4" (QLoRA), "none" (LoRA on a 16-bit base) or "auto": nf4 on a GPU, none elsewhere
    dtype: str | None = None  # compute dtype; None: bf16 where it is fast, fp16 on other GPUs, else fp32
    gradient_checkpointing: bool | None = None  # None: plan_fit decides
    memory_gb: float | None = None  # budget in GiB; None: the profile's
    loss_chunk_tokens: int = 2048  # scored positions per output-layer chunk under checkpointing
    seed: int = 0


@dataclass
class TrainResult:
    """What one training run did: per-step losses, speed in useful (non-padding) tokens, memory."""

    losses: list[float] = field(default_factory=list)
    heldout_losses: list[tuple[int, float]] = field(default_factory=list)  # (step, loss per scored token) on held-out examples
    steps: int = 0
    tokens: int = 0  # useful tokens processed (prompt + completion, no padding)
    scored_tokens: int = 0  # completion tokens the loss was taken on
    padding_tokens: int = 0
    seconds: float = 0.0
    peak_memory_gib: float | None = None  # CUDA only
    quantized: bool = False
    plan: FitPlan | None = None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------------------
# the model


def _compute_dtype(config: TrainConfig, device: str):
    import torch

    if config.dtype:
        if config.dtype not in ("bfloat16", "float16", "float32"):
            raise LabkitError(f"unknown dtype {config.dtype!r}", "use 'bfloat16', 'float16' or 'float32' (or None)")
        return getattr(torch, config.dtype)
    return inference_dtype(device)  # the same choice as generation: bf16 where it runs natively


def _nf4_available(device: str) -> bool:
    try:
        quiet_import("bitsandbytes")
    except Exception:  # noqa: BLE001 (an import that fails in any way means no 4-bit)
        return False
    return device in ("cuda", "cpu")



def load_trainable(key: str | None = None, config: TrainConfig = TrainConfig(), device: str | None = None):
    """Load the generator ``key`` (the profile's by default) with fresh LoRA adapters, ready to train.

    The base is loaded in 4 bits (QLoRA) where ``config.quantize`` resolves to ``"nf4"``
    (:func:`resolve_quantize`); where bitsandbytes cannot do that, plain LoRA is used instead and that is
    said once. The returned model is in train mode.
    """
    key = key or get_profile().generator
    processes()  # under a multi-GPU launch: makes this process's GPU the current one before the model moves
    device = device or pick_device()
    transformers = quiet_import("transformers")
    transformers.utils.logging.disable_progress_bar()
    compute = _compute_dtype(config, device)
    quantize = resolve_quantize(config.quantize, device)
    if quantize == "nf4" and not _nf4_available(device):
        say_once(f"labkit: 4-bit NF4 is not available on {device} (bitsandbytes missing or unsupported); "
                 "training plain LoRA instead.")
        quantize = "none"
    source = key if Path(key).is_dir() else model_source(key)  # a key of labkit.models, or a model's folder
    with offline_hint(key):
        tokenizer = transformers.AutoTokenizer.from_pretrained(source)
        model = load_base(source, quantize, compute, device)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = add_adapters(model, config, source, quantize)
    model.labkit_key = key
    return model, tokenizer


@contextmanager
def _quiet_deprecations():
    """peft reads transformers' deprecated ``is_gradient_checkpointing`` when it wraps a model; hide that one
    FutureWarning (it is not the learner's to fix, and it prints the install path into notebooks)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def load_base(source: str, quantize: str, compute, device: str):
    """The frozen base model from ``source``: 4-bit NF4 with double quantization, prepared for k-bit
    training (``quantize="nf4"``), or full weights in the compute dtype (the LoRA weights that learn are
    float32 either way: peft keeps adapters of a 16-bit base in float32)."""
    transformers = quiet_import("transformers")
    if quantize == "nf4":
        peft = quiet_import("peft")
        bnb = transformers.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                              bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute)
        model = transformers.AutoModelForCausalLM.from_pretrained(source, quantization_config=bnb, dtype=compute,
                                                                  device_map={"": device})
        for module in model.modules():
            # bitsandbytes repacks NF4 weights for CPU inference the first time a layer runs in eval mode, and
            # never unpacks them: training after an evaluation (an on_epoch callback) would backpropagate
            # through a kernel without a gradient, silently. A model that trains never repacks.
            if hasattr(module, "support_avx512bf16_for_cpu"):
                module.support_avx512bf16_for_cpu = False
        return peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return transformers.AutoModelForCausalLM.from_pretrained(source, dtype=compute).to(device)


def add_adapters(model, config: TrainConfig, source: str, quantize: str = "none"):
    """Wrap an already loaded base ``model`` (read from the folder or hub id ``source``) with fresh LoRA
    adapters on every linear layer; returns the PEFT model in train mode. :func:`load_trainable` uses it."""
    import torch

    peft = quiet_import("peft")
    lora = peft.LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                           target_modules="all-linear", task_type="CAUSAL_LM")
    with torch.random.fork_rng(devices=[]), _quiet_deprecations():
        torch.manual_seed(config.seed)  # the adapters' random init comes from the config's seed
        model = peft.get_peft_model(model, lora)
    model.labkit_source = source
    model.labkit_quantize = quantize
    return model.train()


# ---------------------------------------------------------------------------
# data: tokenize, mask the prompt, group by length


def encode_example(tokenizer, example: Example, max_seq_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels for one example: the prompt (chat template + generation prompt) is masked
    with -100, the completion and its end-of-turn token are scored. Too long: the prompt is cut from the left.
    """
    prompt = tokenizer(render(tokenizer, example.messages), add_special_tokens=False)["input_ids"]
    completion = tokenizer(example.completion + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    if len(completion) >= max_seq_len:
        raise LabkitError(f"a completion of {len(completion)} tokens does not fit max_seq_len={max_seq_len}: "
                          f"{example.completion[:60]!r}...", "raise TrainConfig.max_seq_len or shorten the completion")
    prompt = prompt[len(prompt) + len(completion) - max_seq_len:] if len(prompt) + len(completion) > max_seq_len else prompt
    return prompt + completion, [-100] * len(prompt) + completion


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: random.Random,
                           group: int = 8) -> list[list[int]]:
    """Shuffle, then sort within windows of ``group`` batches by length, so each batch holds similar
    lengths (little padding) while the order across batches stays random.

    >>> batches = length_grouped_batches([5, 50, 6, 52, 7, 51, 8, 53], 2, random.Random(0), group=4)
    >>> sorted(sorted(b) for b in batches)
    [[0, 2], [1, 5], [3, 7], [4, 6]]
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * group
    batches = []
    for start in range(0, len(order), window):
        part = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [part[j:j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(encoded: Sequence[tuple[list[int], list[int]]], pad_id: int):
    """Right-pad a micro-batch: input ids, attention mask, labels (-100 on padding)."""
    import torch

    width = max(len(ids) for ids, _ in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (tokens, targets) in enumerate(encoded):
        ids[row, :len(tokens)] = torch.tensor(tokens)
        labels[row, :len(targets)] = torch.tensor(targets)
        mask[row, :len(tokens)] = 1
    return ids, mask, labels


# ---------------------------------------------------------------------------
# the loop


def completion_loss(model, ids, mask, labels, chunk_tokens: int | None = None):
    """Summed cross-entropy over the scored positions and how many there were.

    The decoder runs on every token; the output layer only where a label follows, so the
    (tokens x vocabulary) logits of the prompt are never built. With ``chunk_tokens`` the output
    layer runs in checkpointed chunks, which bounds the logits' memory.
    """
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.get_decoder()(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    scored = targets != -100
    states = hidden[:, :-1][scored]
    wanted = targets[scored]
    head = base.get_output_embeddings()

    def piece(s, t):
        return F.cross_entropy(head(s).float(), t, reduction="sum")

    if chunk_tokens is None or len(wanted) <= chunk_tokens:
        return piece(states, wanted), len(wanted)
    from torch.utils.checkpoint import checkpoint

    total = sum(checkpoint(piece, states[i:i + chunk_tokens], wanted[i:i + chunk_tokens], use_reentrant=False)
                for i in range(0, len(wanted), chunk_tokens))
    return total, len(wanted)


def _budget_gib(config: TrainConfig, device: str) -> float:
    import torch

    budget = config.memory_gb or get_profile().memory_gb
    if device == "cuda":  # what is free now, plus what this process already holds (the weights, counted again)
        free, _ = torch.cuda.mem_get_info()
        budget = min(budget, (free + torch.cuda.memory_allocated()) / GIB)
    return budget


def train(model, tokenizer, examples: Sequence[Example], config: TrainConfig = TrainConfig(),
          on_epoch: Callable[[int, object], None] | None = None, heldout: Sequence[Example] = (),
          eval_every: int | None = None) -> TrainResult:
    """Fine-tune the adapters of ``model`` (from :func:`load_trainable`) on ``examples``.

    Shows a progress bar with the loss and tokens/s; calls ``on_epoch(epoch, model)`` after each full
    epoch (the model is put back in train mode afterwards). With ``heldout`` examples (never trained on), it
    also measures their loss before the first step and every ``eval_every`` steps (None: about ten times in
    the run) and after the last, into ``heldout_losses``: a training loss that falls while the held-out loss
    rises is the model memorising its examples. Evaluation time is not counted as training time.
    Returns a :class:`TrainResult`.

    Under ``accelerate launch`` each process computes its share of every step's sequences and the
    gradients are summed (:mod:`labkit.tuning.parallel`): the losses, tokens and adapter are those of one
    process training on the whole batch.
    """
    import torch
    from tqdm.auto import tqdm

    if not examples:
        raise LabkitError("no training examples", "pass at least one Example(messages, completion)")
    device = model.device.type if hasattr(model, "device") else pick_device()
    compute = _compute_dtype(config, device)
    encoded = [encode_example(tokenizer, e, config.max_seq_len) for e in examples]
    scored_share = sum(sum(t != -100 for t in labels) for _, labels in encoded) / sum(len(i) for i, _ in encoded)
    quantize = getattr(model, "labkit_quantize", None) or resolve_quantize(config.quantize, device)
    plan = plan_fit(model.config, replace(config, quantize=quantize), _budget_gib(config, device),
                    torch.finfo(compute).bits // 8, scored_share, device)
    if plan.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    elif any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules()):
        model.gradient_checkpointing_disable()  # left on by an earlier train() call
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size)
    total_steps = math.ceil(config.epochs * steps_per_epoch)
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_scale(s, config.warmup_steps, total_steps))
    scaler = torch.amp.GradScaler("cuda") if compute == torch.float16 and device == "cuda" else None
    autocast = torch.autocast(device_type=device, dtype=compute, enabled=compute != torch.float32)
    rng = random.Random(config.seed)  # the same batches in every process
    together = processes()
    result = TrainResult(quantized=getattr(model, "labkit_quantize", "none") == "nf4", plan=plan)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    held = [encode_example(tokenizer, e, config.max_seq_len) for e in heldout]
    every = eval_every or max(1, total_steps // 10)

    def measure_heldout() -> None:
        with autocast:
            result.heldout_losses.append((result.steps, heldout_loss(model, held, plan.micro_batch,
                                                                     tokenizer.pad_token_id, device)))

    def untimed(work: Callable[[], None]) -> None:
        """Run ``work`` (an evaluation) outside the training time, and put the model back in train mode."""
        nonlocal started
        paused = time.perf_counter()
        work()
        model.train()
        started += time.perf_counter() - paused

    if held:
        measure_heldout()  # before the first step, and before the clock starts
    model.train()
    bar = tqdm(total=total_steps, desc="train", unit="step", disable=progress_off() or not together.is_main)
    started = time.perf_counter()
    epoch, batches = 0, []
    while result.steps < total_steps:
        if not batches:
            batches = length_grouped_batches([len(i) for i, _ in encoded], config.batch_size, rng)
        step_batch = [encoded[i] for i in batches.pop(0)]
        scored_in_step = sum(sum(t != -100 for t in labels[1:]) for _, labels in step_batch)  # over every process
        mine = together.shard(step_batch)
        micro = [mine[i:i + plan.micro_batch] for i in range(0, len(mine), plan.micro_batch)]
        step_loss, step_tokens, step_padding = 0.0, 0, 0
        for part in micro:
            ids, mask, labels = (t.to(device) for t in collate(part, tokenizer.pad_token_id))
            with autocast:
                loss_sum, _ = completion_loss(model, ids, mask, labels,
                                              config.loss_chunk_tokens if plan.gradient_checkpointing else None)
            loss = loss_sum / max(scored_in_step, 1)
            (scaler.scale(loss) if scaler else loss).backward()
            step_loss += loss.item()
            step_tokens += int(mask.sum())
            step_padding += int(mask.numel() - mask.sum())
        together.sum_gradients(params)
        step_loss = together.sum(step_loss)
        result.tokens += int(together.sum(step_tokens))
        result.padding_tokens += int(together.sum(step_padding))
        result.scored_tokens += scored_in_step
        if scaler:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer_step(optimizer, scaler)
        if device == "cpu":
            trim_heap()  # the step's activations are freed: give their pages back (RAFT's peak: 2.9 -> 2.6 GB)
        schedule.step()
        result.steps += 1
        result.losses.append(step_loss)
        result.seconds = time.perf_counter() - started
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.3f}", tok_s=f"{result.tokens_per_second:.0f}")
        if held and (result.steps % every == 0 or result.steps == total_steps):
            untimed(measure_heldout)
        if not batches:
            epoch += 1
            if on_epoch is not None:
                untimed(lambda: on_epoch(epoch, model))  # evaluation time is not training time
    bar.close()
    result.seconds = time.perf_counter() - started
    if device == "cuda":
        result.peak_memory_gib = torch.cuda.max_memory_allocated() / GIB
    return result


def heldout_loss(model, encoded: Sequence[tuple[list[int], list[int]]], micro_batch: int, pad_token_id: int,
                 device: str) -> float:
    """The mean loss per scored token of ``encoded`` examples (from :func:`encode_example`), without gradients,
    in eval mode (the caller puts the model back in train mode)."""
    import torch

    model.eval()
    total, scored, size = 0.0, 0, max(1, micro_batch)
    with torch.no_grad():
        for i in range(0, len(encoded), size):
            ids, mask, labels = (t.to(device) for t in collate(encoded[i:i + size], pad_token_id))
            loss_sum, count = completion_loss(model, ids, mask, labels)
            total, scored = total + float(loss_sum), scored + count
    return total / max(scored, 1)


def plot_losses(result: TrainResult, title: str = "Training", path=None):
    """The training loss of every step and, where measured, the held-out loss, on one axis. Returns the figure."""
    fig = new_figure((6.5, 3.4), path)
    ax = fig.subplots()
    ax.plot(range(1, len(result.losses) + 1), result.losses, marker="o", markersize=3, label="training (this step's batch)")
    if result.heldout_losses:
        steps, losses = zip(*result.heldout_losses)
        ax.plot(steps, losses, marker="s", markersize=4, color="#d62728", label="held out (never trained on)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per scored token")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=11)
    ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def optimizer_step(optimizer, scaler=None) -> None:
    """One optimizer step (through the fp16 gradient scaler when there is one), then clear the gradients."""
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _lr_scale(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak rate."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


# ---------------------------------------------------------------------------
# adapters: size, save, load, merge


def adapter_state(model) -> dict:
    """The adapter's weights only (what training changed)."""
    peft = quiet_import("peft")
    return peft.get_peft_model_state_dict(model)


def adapter_bytes(model) -> int:
    """Size of the adapter's weights as saved (fp32 safetensors), in bytes."""
    return sum(t.numel() * t.element_size() for t in adapter_state(model).values())


def merged_copy(model, dtype=None):
    """A plain (non-PEFT) model with the adapter folded into full-precision base weights, for fast inference.

    A QLoRA model is not merged into its 4-bit weights (that would round the update away): its adapter is
    applied to a freshly loaded float32 copy of the same base, and the sum is then cast to ``dtype`` (default:
    the one labkit generates in, :func:`labkit.runtime.inference_dtype`). ``model`` itself is left untouched.
    """
    import torch

    transformers = quiet_import("transformers")
    peft = quiet_import("peft")
    device = model.device
    base = transformers.AutoModelForCausalLM.from_pretrained(model.labkit_source, dtype=torch.float32).to(device)
    with _quiet_deprecations():
        wrapped = peft.get_peft_model(base, copy.deepcopy(model.peft_config["default"]))
    peft.set_peft_model_state_dict(wrapped, {k: v.float() for k, v in adapter_state(model).items()})
    return wrapped.merge_and_unload().to(dtype or inference_dtype(device.type)).eval()


def save_adapter(model, folder: Path | str, info: dict | None = None) -> Path:
    """Save the adapter (tens of MB for the course's: 19.5 MB at r = 16) to ``folder`` atomically, with checksums and ``info`` (e.g. the result)."""
    folder = Path(folder)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        (tmp / "labkit-train.json").write_text(json.dumps(
            {"base_key": getattr(model, "labkit_key", None), "base": str(model.labkit_source),
             "quantize": model.labkit_quantize, **(info or {})}, indent=1,
            default=str))

    return write_folder(folder, write, ADAPTER_FILES)


def load_adapter(folder: Path | str, device: str | None = None, dtype=None):
    """Load a saved adapter onto its float32 base, merge it and cast the result to ``dtype`` (default: as
    :func:`merged_copy`); returns (model, tokenizer)."""
    import torch

    folder = Path(folder)
    verify_folder(folder, ADAPTER_FILES, "adapter")
    info = json.loads((folder / "labkit-train.json").read_text())
    transformers = quiet_import("transformers")
    peft = quiet_import("peft")
    device = device or pick_device()
    source = info["base"]
    if info.get("base_key"):  # a model labkit knows: find it on this machine, wherever its cache is
        source = model_source(info["base_key"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    base = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).to(device)
    with _quiet_deprecations():  # merged in float32, then cast, as merged_copy does
        model = peft.PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    return model.to(dtype or inference_dtype(device)).eval(), tokenizer


def describe(result: TrainResult) -> str:
    """One line: steps, loss first -> last, tokens/s, time, and the fit plan."""
    if not result.steps:
        return "no training steps ran (epochs or max_steps is 0)"
    plan = result.plan
    fit = (f", micro-batch {plan.micro_batch} x {plan.grad_accum}"
           f"{', checkpointing' if plan.gradient_checkpointing else ''}") if plan else ""
    return (f"{'QLoRA (NF4)' if result.quantized else 'LoRA'}: {result.steps} steps, loss {result.losses[0]:.2f} -> "
            f"{result.losses[-1]:.2f}, {result.tokens_per_second:.0f} tokens/s, {result.seconds:.0f} s{fit}")


def summary_json(result: TrainResult) -> dict:
    """The result as plain JSON-able data (for saving next to an adapter)."""
    data = asdict(replace(result, losses=[round(x, 4) for x in result.losses],
                          heldout_losses=[(step, round(x, 4)) for step, x in result.heldout_losses]))
    data["tokens_per_second"] = result.tokens_per_second
    return data


