"""The one prepared GPU check: QLoRA and LoRA training, fp16 (with a gradient scaler) and bf16, the memory
planner against the measured peak under a T4-sized cap, and the ladder on CUDA; results as JSON and markdown.

    python scripts/gpu_check.py                                  # CUDA: every stage (about 8 minutes on an H100-class card)
    python scripts/gpu_check.py --stages adapters,ladder --sample 8
    python scripts/gpu_check.py --dry-run                        # the same stages on the CPU, tiny: about 2 minutes
    python scripts/gpu_check.py --device cpu --tiny --out x.json # only the shapes stage, tiny (seconds)

Stages (``--stages``, comma-separated), each under ``torch.cuda.set_per_process_memory_fraction`` for
``--cap-gib`` (15: a T4) where it trains:

* ``shapes``: speed and peak memory on the real 135M/0.5B/1.5B shapes with random weights (below);
* ``adapters``: the format and RAFT adapters the ladder trains, on the course's own examples and the embedded
  SmolLM2-135M (real weights and tokenizer, no hub), with QLoRA (NF4 through bitsandbytes) and LoRA, in fp16
  (:func:`labkit.tuning.train.train` adds a gradient scaler) and in bf16 where the card has it; each row
  sets the planner's estimate (:func:`labkit.tuning.plan.plan_fit`) beside the measured peak;
* ``ladder``: :func:`labkit.ladder.run.run_ladder` on a ``--sample`` of the course questions with the gpu
  profile (the embedded models on CUDA where the hub is neither cached nor reachable, as on a lent machine);
* ``parallel``: ``python -m labkit train --course format`` under ``accelerate launch`` on every card (two
  processes on the CPU in a dry run) beside one process, the same ``--adapter-steps``: the losses must agree and
  the wall time falls. Skipped, and said so, on a machine with one card.

Output in ``--out-dir`` (default ``results/gpu_check``): ``gpu_check.json`` (``--out`` moves it) and
``gpu_check.md``, the tables to paste into docs/BENCHMARKS.md, plus the ladder's ``scoreboard.json``.

The ``shapes`` stage needs no hub: each model is built from its published architecture with random weights (speed and
memory do not depend on the values), saved to a temporary folder with a three-word tokenizer, and
handed to labkit as that model's source. The batches are random token ids: every sequence is exactly
``--seq-len`` tokens, the first half prompt (masked) and the second half completion (scored), so
"useful tokens" are all tokens and nothing depends on a real tokenizer.

Runs per model, all with LoRA r=16 (alpha 32) on every linear layer, ``--batch`` x ``--seq-len``:

* ``labkit qlora`` / ``labkit lora``: :func:`labkit.tuning.train.load_trainable` + :func:`labkit.tuning.train.train`
  (completion-only logits), gradient checkpointing off, the compute dtype labkit picks (bf16 on
  Ampere and newer). A short ``train()`` call warms up first; the second call is the one measured.
* ``raw qlora`` / ``raw lora``: the same base loading, then a plain loop in eval mode (so no
  checkpointing) with ``model(input_ids, attention_mask, labels=labels).loss``, i.e. logits over the
  whole vocabulary at every position. This is how the reference numbers below were taken.
* ``fit 15 GB``: QLoRA in fp16 as a Colab T4 runs it, with ``torch.cuda.set_per_process_memory_fraction``
  capping this process at ``--cap-gib`` and ``TrainConfig(memory_gb=cap, dtype="float16")``; the
  plan that :func:`labkit.tuning.plan.plan_fit` chose is printed, and whether peak memory stayed under the
  cap. Its sequences are ``--fit-seq-len`` long (the GPU profile's max_seq_len), the worst case the
  planner plans for. (A real T4 shows about 14.7 GiB to torch, so 15 GiB is a little generous.)

Reference, from the issue: a raw loop on an H100, B=8, T=512, eval mode, all-linear r=16:
1.5B QLoRA 12.5k tokens/s and 26.7 GiB peak; 0.5B QLoRA 18.8k tokens/s, 16.2 GiB; 135M 15.1k tokens/s, 6.6 GiB.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
if str(Path(__file__).resolve().parents[1]) not in sys.path:  # run from anywhere without installing labkit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from labkit.errors import LabkitError  # noqa: E402
from labkit.runtime import quiet_import  # noqa: E402
from labkit.tuning.plan import GIB  # noqa: E402
from labkit.tuning.train import (Example, TrainConfig, _compute_dtype, collate, encode_example,  # noqa: E402
                                 load_base, load_trainable, optimizer_step, train)

# architecture values of the published configs (the weights are random here)
ARCHS = {
    "smollm2-135m": ("llama", dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                                   num_attention_heads=9, num_key_value_heads=3, vocab_size=49152,
                                   tie_word_embeddings=True, max_position_embeddings=8192)),
    "qwen2.5-0.5b": ("qwen2", dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                                   num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
                                   tie_word_embeddings=True, max_position_embeddings=32768)),
    "qwen2.5-1.5b": ("qwen2", dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                                   num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
                                   tie_word_embeddings=True, max_position_embeddings=32768)),
}
TINY = {"tiny": ("llama", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                               num_key_value_heads=2, vocab_size=512, tie_word_embeddings=True,
                               max_position_embeddings=512))}
REFERENCE_H100_RAW_QLORA = {  # tokens/s, peak GiB
    "smollm2-135m": (15_100, 6.6), "qwen2.5-0.5b": (18_800, 16.2), "qwen2.5-1.5b": (12_500, 26.7)}
LORA_R, LORA_ALPHA = 16, 32
QUANTIZE = (("qlora", "nf4"), ("lora", "none"))
PAD_ID, EOS_ID = 0, 1


class IdTokenizer:
    """Just enough of a tokenizer for labkit.tuning.train: a text is token ids written as numbers, no chat template."""

    eos_token = "<eos>"
    eos_token_id = EOS_ID
    pad_token_id = PAD_ID

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=False):
        return " ".join(m["content"] for m in messages)

    def __call__(self, text, add_special_tokens=False):
        words = text.replace(self.eos_token, f" {self.eos_token} ").split()
        return {"input_ids": [self.eos_token_id if w == self.eos_token else int(w) for w in words]}


def random_examples(n: int, seq_len: int, vocab: int, seed: int = 0) -> list[Example]:
    """``n`` examples of exactly ``seq_len`` tokens once encoded: half prompt, half completion (with eos)."""
    rng = random.Random(seed)
    prompt_len = seq_len // 2
    completion_len = seq_len - prompt_len - 1  # + eos

    def ids(k):
        return " ".join(str(rng.randrange(2, vocab)) for _ in range(k))

    return [Example([{"role": "user", "content": ids(prompt_len)}], ids(completion_len)) for _ in range(n)]


def write_tokenizer(folder: Path) -> None:
    """A three-word tokenizer, so that AutoTokenizer.from_pretrained(folder) works (load_trainable needs one)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"<pad>": PAD_ID, "<eos>": EOS_ID, "<unk>": 2}, unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=words, pad_token="<pad>", eos_token="<eos>",
                            unk_token="<unk>").save_pretrained(folder)


def build_source(name: str, kind: str, arch: dict, root: Path, device: str) -> str:
    """Save a randomly initialised model of this architecture (bf16 on CUDA) to ``root/name``."""
    import transformers

    config_class = transformers.Qwen2Config if kind == "qwen2" else transformers.LlamaConfig
    config = config_class(**arch, pad_token_id=PAD_ID, eos_token_id=EOS_ID, bos_token_id=EOS_ID)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):  # random init on the GPU: seconds instead of a minute for 1.5B
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)
    folder = root / name
    model.save_pretrained(folder)
    write_tokenizer(folder)
    del model
    release(device)
    return str(folder)


@contextlib.contextmanager
def sources(mapping: dict[str, str]):
    """Make model_source(key) return our temporary folders where load_trainable looks it up (per call, in
    labkit.tuning.train, which imports it from labkit.models: patch the name where it is used)."""
    import labkit.tuning.train

    original = labkit.tuning.train.model_source
    labkit.tuning.train.model_source = lambda key: mapping[key]
    try:
        yield
    finally:
        labkit.tuning.train.model_source = original


def release(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peaks(device: str) -> tuple[float | None, float | None]:
    if device != "cuda":
        return None, None
    return torch.cuda.max_memory_allocated() / GIB, torch.cuda.max_memory_reserved() / GIB


def plan_text(plan) -> str:
    if plan is None:
        return ""
    return f"{plan.micro_batch}x{plan.grad_accum}{' ckpt' if plan.gradient_checkpointing else ''}"


def row(model: str, run: str, **values) -> dict:
    base = dict(model=model, run=run, quantize=None, dtype=None, plan="", tokens_per_s=0.0, peak_gib=None,
                reserved_gib=None, loss_first=None, loss_last=None, steps=0, seconds=0.0, error=None)
    return {**base, **values}


def run_labkit(key: str, quantize: str, examples, args, device: str) -> dict:
    """load_trainable + train() at a fixed batch, no checkpointing; the second train() call is measured."""
    config = TrainConfig(batch_size=args.batch, max_seq_len=args.seq_len, lora_r=LORA_R, lora_alpha=LORA_ALPHA,
                         quantize=quantize, dtype=args.dtype, gradient_checkpointing=False, memory_gb=1e6,
                         epochs=1e6, learning_rate=1e-4, warmup_steps=0)
    model = None
    try:
        model, _ = load_trainable(key, config, device)
        tokenizer = IdTokenizer()
        if args.warmup:
            train(model, tokenizer, examples, replace(config, max_steps=args.warmup))
        result = train(model, tokenizer, examples, replace(config, max_steps=args.steps))
        peak, reserved = peaks(device)
        return row(key, f"labkit {'qlora' if quantize == 'nf4' else 'lora'}", quantize=model.labkit_quantize,
                   dtype=str(_compute_dtype(config, device)).replace("torch.", ""), plan=plan_text(result.plan),
                   tokens_per_s=result.tokens_per_second, peak_gib=peak, reserved_gib=reserved,
                   loss_first=result.losses[0], loss_last=result.losses[-1], steps=result.steps,
                   seconds=result.seconds)
    finally:
        del model
        release(device)


def run_raw(key: str, source: str, quantize: str, examples, args, device: str) -> dict:
    """transformers + peft (+ bitsandbytes), eval mode, full-vocabulary loss from model(..., labels=...)."""
    peft = quiet_import("peft")
    compute = _compute_dtype(TrainConfig(dtype=args.dtype), device)
    tokenizer = IdTokenizer()
    encoded = [encode_example(tokenizer, e, args.seq_len) for e in examples]
    batches = [collate(encoded[i:i + args.batch], PAD_ID) for i in range(0, len(encoded), args.batch)]
    model = optimizer = None
    try:
        if quantize == "nf4":
            quiet_import("bitsandbytes")
        model = load_base(source, quantize, compute, device)  # the same base labkit trains
        lora = peft.LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules="all-linear",
                               task_type="CAUSAL_LM")
        model = peft.get_peft_model(model, lora)
        model.eval()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
        scaler = torch.amp.GradScaler("cuda") if compute == torch.float16 and device == "cuda" else None
        autocast = torch.autocast(device_type=device, dtype=compute, enabled=compute != torch.float32)
        losses, tokens, started = [], 0, time.perf_counter()
        for step in range(args.warmup + args.steps):
            if step == args.warmup:
                sync(device)
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                losses, tokens, started = [], 0, time.perf_counter()
            ids, mask, labels = (t.to(device) for t in batches[step % len(batches)])
            with autocast:
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            (scaler.scale(loss) if scaler else loss).backward()
            optimizer_step(optimizer, scaler)
            losses.append(loss.item())
            tokens += int(mask.sum())
        sync(device)
        seconds = time.perf_counter() - started
        peak, reserved = peaks(device)
        return row(key, f"raw {'qlora' if quantize == 'nf4' else 'lora'}", quantize=quantize,
                   dtype=str(compute).replace("torch.", ""), plan=f"{args.batch}x1 eval",
                   tokens_per_s=tokens / seconds if seconds else 0.0, peak_gib=peak, reserved_gib=reserved,
                   loss_first=losses[0], loss_last=losses[-1], steps=len(losses), seconds=seconds)
    finally:
        del model, optimizer
        release(device)


def run_fit(key: str, examples, args, device: str) -> dict:
    """QLoRA as a T4 runs it: fp16, the planner deciding, this process capped at ``args.cap_gib``."""
    dtype = "float16" if device == "cuda" else "float32"  # fp16 autocast with 4-bit weights is a GPU path
    config = TrainConfig(batch_size=args.batch, max_seq_len=args.fit_seq_len, lora_r=LORA_R, lora_alpha=LORA_ALPHA,
                         quantize="nf4", dtype=dtype, memory_gb=args.cap_gib, epochs=1e6, max_steps=args.steps,
                         learning_rate=1e-4, warmup_steps=0)
    return run_capped(key, f"fit {args.cap_gib:g} GB", IdTokenizer(), examples, config, args.cap_gib, device)


@contextlib.contextmanager
def capped(cap_gib: float, device: str):
    """This process may use at most ``cap_gib`` of the card (a T4's 15 GB on a bigger one); peaks start at zero."""
    if device == "cuda":
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gib * GIB / total))
    release(device)
    try:
        yield
    finally:
        release(device)
        if device == "cuda":
            torch.cuda.set_per_process_memory_fraction(1.0)


def run_capped(key: str, name: str, tokenizer, examples, config: TrainConfig, cap_gib: float, device: str) -> dict:
    """Load and train ``key`` as ``config`` says, under the cap, with the planner deciding the batches; the row
    holds the planner's estimate beside the measured peak (a tokenizer of None: the model's own)."""
    model = None
    with capped(cap_gib, device):
        try:
            model, own = load_trainable(key, config, device)
            result = train(model, tokenizer or own, examples, config)
            peak, reserved = peaks(device)
            return row(key, name, quantize=model.labkit_quantize, dtype=config.dtype, plan=plan_text(result.plan),
                       estimate_gib=result.plan.total_gib, tokens_per_s=result.tokens_per_second, peak_gib=peak,
                       reserved_gib=reserved, loss_first=result.losses[0], loss_last=result.losses[-1],
                       steps=result.steps, seconds=result.seconds,
                       scaler=config.dtype == "float16" and device == "cuda",
                       under_cap=None if peak is None else peak <= cap_gib)
        except torch.OutOfMemoryError as exc:
            peak, reserved = peaks(device)
            return row(key, name, dtype=config.dtype, peak_gib=peak, reserved_gib=reserved, under_cap=False,
                       error=f"out of memory under the cap: {str(exc).splitlines()[0]}")
        except LabkitError as exc:
            return row(key, name, dtype=config.dtype, error=f"plan_fit refused: {exc.problem}")
        finally:
            del model


# ---------------------------------------------------------------------------
# the adapters stage: the ladder's own training sets on the embedded generator

ADAPTER_MODEL = "smollm2-135m"  # embedded: real weights and tokenizer on a machine without the hub


def adapter_sets(limit: int | None) -> dict[str, tuple[list[Example], TrainConfig]]:
    """{name: (examples, the ladder's training config)} for the format and RAFT adapters (the first ``limit``)."""
    from labkit.course.corpus import course_corpus
    from labkit.ladder.both import RAFT_TRAINING, BothConfig, raft_set
    from labkit.ladder.ft import FORMAT_TRAINING, format_training_examples
    from labkit.ladder.rag import build_retriever

    corpus = course_corpus()
    both = BothConfig() if limit is None else replace(BothConfig(), raft=replace(BothConfig().raft, examples=limit))
    raft_examples = [e.to_example() for e in raft_set(corpus, build_retriever(corpus, "v1"), both)]
    return {"format": (format_training_examples(corpus)[:limit], FORMAT_TRAINING),
            "raft": (raft_examples[:limit], RAFT_TRAINING)}


def adapter_dtypes(device: str) -> list[str]:
    """fp16 (a T4's, with a gradient scaler) and bf16 where the card runs it; float32 on a CPU."""
    if device != "cuda":
        return ["float32"]
    return ["float16"] + (["bfloat16"] if torch.cuda.is_bf16_supported(including_emulation=False) else [])


def run_adapters(args, device: str) -> list[dict]:
    results = []
    for set_name, (examples, base) in adapter_sets(args.adapter_examples).items():
        for (label, quantize), dtype in ((q, d) for q in QUANTIZE for d in adapter_dtypes(device)):
            config = replace(base, quantize=quantize, dtype=dtype, memory_gb=args.cap_gib, max_steps=args.adapter_steps)
            result = run_capped(ADAPTER_MODEL, f"{set_name} {label}", None, examples, config, args.cap_gib, device)
            results.append(result)
            say(result)
    return results


# ---------------------------------------------------------------------------
# the ladder stage


def run_ladder_stage(args, device: str, out_dir: Path) -> dict:
    """The ladder on CUDA (the gpu profile, or its fallback), in this process under the cap; its rows in short."""
    from labkit.ladder.run import LadderConfig, run_ladder
    from labkit.runtime import get_profile
    from labkit.scoreboard import RUNGS

    profile = get_profile("gpu" if device == "cuda" else "ci")
    rungs = tuple(args.rungs.split(",")) if args.rungs else RUNGS
    started = time.perf_counter()
    with capped(args.cap_gib, device):
        rows = run_ladder(LadderConfig(rungs=rungs, sample=args.sample, out=out_dir / "ladder", profile=profile.name,
                                       isolate_training=False, report=False))
        peak, reserved = peaks(device)
    keep = ("rung", "variant", "model", "profile", "corpus_version", "n", "accuracy", "format_compliance",
            "stale_rate", "latency_ms_mean", "train_seconds")
    return {"profile": profile.name, "generator": profile.generator, "embedder": profile.embedder, "rungs": rungs,
            "sample": args.sample, "seconds": time.perf_counter() - started, "peak_gib": peak, "reserved_gib": reserved,
            "rows": [{k: getattr(r, k) for k in keep} for r in rows]}


# ---------------------------------------------------------------------------
# the parallel stage


def run_parallel_stage(args, device: str, out_dir: Path) -> dict:
    """The format adapter trained by one process and by one process per card (``accelerate launch``), same steps."""
    count = torch.cuda.device_count() if device == "cuda" else 2
    if count < 2:
        return {"skipped": f"{count} card: data parallelism needs two (tests/test_parallel.py runs it on the CPU)"}
    env = {**os.environ, "TQDM_DISABLE": "1", **({"CUDA_VISIBLE_DEVICES": ""} if device == "cpu" else {})}
    if device == "cpu":
        env["OMP_NUM_THREADS"] = "1"
    train = ["-m", "labkit", "train", "--course", "format", "--max-steps", str(args.adapter_steps)]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(count),
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    runs = {}
    for name, command in (("1 process", [sys.executable, *train]), (f"{count} processes", [*launch, *train])):
        folder = out_dir / f"parallel-{name.split()[0]}"
        started = time.perf_counter()
        done = subprocess.run([*command, "--out", str(folder)], env=env, capture_output=True, text=True)
        info = json.loads((folder / "labkit-train.json").read_text())["result"] if done.returncode == 0 else {}
        runs[name] = {"seconds": time.perf_counter() - started, "losses": info.get("losses"),
                      "tokens_per_s": info.get("tokens", 0) / max(info.get("seconds") or 1e-9, 1e-9),
                      "error": None if done.returncode == 0 else done.stderr.strip().splitlines()[-1][:200]}
    one, many = runs.values()
    agree = bool(one["losses"] and many["losses"]) and all(
        abs(a - b) <= 1e-2 * abs(a) for a, b in zip(one["losses"], many["losses"]))
    return {"processes": count, "runs": runs, "losses_agree": agree}


def parallel_text(stage: dict) -> str:
    if "skipped" in stage:
        return f"skipped: {stage['skipped']}"
    lines = ["| run | wall s | train tokens/s | first -> last loss | error |", "| --- | ---: | ---: | --- | --- |"]
    for name, r in stage["runs"].items():
        losses = f"{r['losses'][0]:.3f} -> {r['losses'][-1]:.3f}" if r["losses"] else ""
        lines.append(f"| {name} | {r['seconds']:.0f} | {r['tokens_per_s']:,.0f} | {losses} | {r['error'] or ''} |")
    return "\n".join(lines) + f"\n\nlosses agree (within 1%): {stage['losses_agree']}"


def fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def table(runs: list[dict]) -> str:
    lines = ["| model | run | dtype | plan | tokens/s | peak GiB | reserved GiB | loss first -> last | note |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | --- | --- |"]
    for r in runs:
        note = r["error"] or ""
        if r.get("estimate_gib") is not None:
            verdict = "no peak (CPU)" if r.get("under_cap") is None else \
                f"peak/estimate {r['peak_gib'] / r['estimate_gib']:.2f}; under the cap: {'yes' if r['under_cap'] else 'NO'}"
            note = f"estimate {r['estimate_gib']:.2f} GiB; {verdict}" + ("; grad scaler" if r.get("scaler") else "")
        if r["run"] == "raw qlora" and r["model"] in REFERENCE_H100_RAW_QLORA:
            ref_tps, ref_peak = REFERENCE_H100_RAW_QLORA[r["model"]]
            note = (note + "; " if note else "") + f"H100 reference {ref_tps / 1000:.1f}k tokens/s, {ref_peak} GiB"
        if r["quantize"] == "none" and r["run"].endswith("qlora"):
            note = (note + "; " if note else "") + "NF4 unavailable: ran plain LoRA"
        loss = "" if r["loss_first"] is None else f"{r['loss_first']:.2f} -> {r['loss_last']:.2f}"
        lines.append(f"| {r['model']} | {r['run']} | {r['dtype'] or ''} | {r['plan']} | {r['tokens_per_s']:,.0f} | "
                     f"{fmt(r['peak_gib'], '.1f')} | {fmt(r['reserved_gib'], '.1f')} | {loss} | {note} |")
    return "\n".join(lines)


def ladder_table(ladder: dict) -> str:
    lines = [f"profile {ladder['profile']} ({ladder['generator']}, {ladder['embedder']}), sample {ladder['sample']}, "
             f"{ladder['seconds']:.0f} s, peak {fmt(ladder['peak_gib'], '.1f') or '-'} GiB", "",
             "| rung | variant | corpus | n | accuracy | format | stale | ms/query |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in ladder["rows"]:
        lines.append(f"| {r['rung']} | {r['variant']} | {r['corpus_version']} | {r['n'] or ''} | {fmt(r['accuracy'], '.0%')} | "
                     f"{fmt(r['format_compliance'], '.0%')} | {fmt(r['stale_rate'], '.0%')} | {fmt(r['latency_ms_mean'], '.0f')} |")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """The report as the sections to paste into docs/BENCHMARKS.md."""
    a = report["args"]
    parts = [f"## gpu_check on {report['device']} ({report['started']})", "",
             f"versions {report['versions']}; cap {a['cap_gib']:g} GiB; stages {a['stages']}; "
             f"{report['seconds']:.0f} s in all" + ("; DRY RUN on the CPU, tiny sizes" if a["dry_run"] else "")]
    if report["runs"]:
        parts += ["", f"### shapes (random weights, batch {a['batch']} x {a['seq_len']}, {a['steps']} steps)", "",
                  table(report["runs"])]
    if report["adapters"]:
        parts += ["", f"### adapters ({ADAPTER_MODEL}, the course's format and RAFT examples, {a['adapter_steps']} "
                      "steps, the planner deciding the batches)", "", table(report["adapters"])]
    if report["ladder"]:
        parts += ["", "### the ladder", "", ladder_table(report["ladder"])]
    if report.get("parallel"):
        parts += ["", "### data parallel (`accelerate launch`, the format adapter)", "", parallel_text(report["parallel"])]
    return "\n".join(parts) + "\n"


def say(result: dict) -> None:
    print(f"  {result['model']} {result['run']}: {result['tokens_per_s']:,.0f} tokens/s, peak "
          f"{fmt(result['peak_gib'], '.2f') or '-'} GiB, plan {result['plan']}"
          f"{', ' + result['error'] if result['error'] else ''}", file=sys.stderr)


STAGES = ("shapes", "adapters", "ladder", "parallel")


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stages", default=None, help=f"comma-separated, of: {', '.join(STAGES)} (default: all; "
                                                  "with --tiny alone: shapes)")
    p.add_argument("--dry-run", "--cpu", dest="dry_run", action="store_true",
                   help="every stage on the CPU with tiny sizes: tests the script before a GPU is lent")
    p.add_argument("--models", default=",".join(ARCHS), help=f"comma-separated, of: {', '.join(ARCHS)}")
    p.add_argument("--runs", default="labkit,raw,fit", help="shapes stage: comma-separated, of: labkit, raw, fit")
    p.add_argument("--steps", type=int, default=None, help="measured optimizer steps per run (default 20; tiny 2)")
    p.add_argument("--warmup", type=int, default=None, help="steps before measuring (default 3; tiny 1)")
    p.add_argument("--batch", type=int, default=None, help="sequences per step (default 8; tiny 2)")
    p.add_argument("--seq-len", type=int, default=None, help="tokens per sequence (default 512; tiny 32)")
    p.add_argument("--fit-seq-len", type=int, default=None, help="tokens per sequence in the capped run "
                                                                 "(default 1024, the GPU profile's; tiny 32)")
    p.add_argument("--adapter-steps", type=int, default=None, help="adapters stage: steps per run (default 20; dry 1)")
    p.add_argument("--adapter-examples", type=int, default=None, help="adapters stage: examples per set "
                                                                      "(default: the ladder's; dry 4)")
    p.add_argument("--sample", type=int, default=None, help="ladder stage: questions per set (default 8; dry 1)")
    p.add_argument("--rungs", default=None, help="ladder stage: comma-separated rungs (default: all; dry: prompt)")
    p.add_argument("--cap-gib", type=float, default=15.0, help="memory cap of the training runs (default 15)")
    p.add_argument("--dtype", default=None, help="compute dtype of the fixed runs (default: labkit's choice)")
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available; dry: cpu)")
    p.add_argument("--tiny", action="store_true", help="a 2-layer model instead of the real shapes (smoke test)")
    p.add_argument("--out-dir", default=None, help="where gpu_check.json and gpu_check.md go "
                                                   "(default: --out's folder, else results/gpu_check)")
    p.add_argument("--out", default=None, help="the JSON file (default: OUT_DIR/gpu_check.json)")
    args = p.parse_args(argv)
    if args.dry_run:
        args.tiny, args.device = True, args.device or "cpu"
        args.rungs = args.rungs or "prompt"
    args.stages = args.stages or ("shapes" if args.tiny and not args.dry_run else ",".join(STAGES))
    unknown = set(args.stages.split(",")) - set(STAGES)
    if unknown:
        p.error(f"unknown stage(s) {', '.join(sorted(unknown))}: choose from {', '.join(STAGES)}")
    small = args.tiny
    for name, big, tiny in (("steps", 20, 2), ("warmup", 3, 1), ("batch", 8, 2), ("seq_len", 512, 32),
                            ("fit_seq_len", 1024, 32), ("adapter_steps", 20, 1), ("adapter_examples", None, 4),
                            ("sample", 8, 1)):
        if getattr(args, name) is None:
            setattr(args, name, tiny if small else big)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return args


def run_shapes(args, device: str) -> list[dict]:
    """The random-weight runs of every ``--models`` shape (``--tiny``: one 2-layer model)."""
    archs = TINY if args.tiny else {k: ARCHS[k] for k in args.models.split(",")}
    runs_wanted = set(args.runs.split(","))
    results = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        for key, (kind, arch) in archs.items():
            started = time.perf_counter()
            source = build_source(key, kind, arch, Path(tmp), device)
            vocab = arch["vocab_size"]
            examples = random_examples(4 * args.batch, args.seq_len, vocab)
            fit_examples = random_examples(2 * args.batch, args.fit_seq_len, vocab, seed=1)
            todo = []  # (run name, job)
            if "labkit" in runs_wanted:
                todo += [(f"labkit {n}", lambda q=q: run_labkit(key, q, examples, args, device)) for n, q in QUANTIZE]
            if "raw" in runs_wanted:
                todo += [(f"raw {n}", lambda q=q: run_raw(key, source, q, examples, args, device)) for n, q in QUANTIZE]
            if "fit" in runs_wanted:
                todo.append((f"fit {args.cap_gib:g} GB", lambda: run_fit(key, fit_examples, args, device)))
            with sources({key: source}):
                for name, job in todo:
                    try:
                        result = job()
                    except Exception as exc:  # noqa: BLE001 (one failed run should not lose the others)
                        result = row(key, name, error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                    release(device)
                    results.append(result)
                    say(result)
            shutil.rmtree(source, ignore_errors=True)
            print(f"  {key}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return results


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    device = args.device
    stages = args.stages.split(",")
    versions = {}
    for module in ("torch", "transformers", "peft", "bitsandbytes"):
        try:
            versions[module] = quiet_import(module).__version__
        except Exception as exc:  # noqa: BLE001 (report, do not fail)
            versions[module] = f"unavailable: {type(exc).__name__}"
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu"
    print(f"gpu_check: {gpu}, {versions}, stages {args.stages}", file=sys.stderr)
    out_dir = Path(args.out_dir or (Path(args.out).parent if args.out else "results/gpu_check"))
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = {"device": gpu, "versions": versions, "args": vars(args), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "runs": run_shapes(args, device) if "shapes" in stages else [],
              "adapters": run_adapters(args, device) if "adapters" in stages else [],
              "ladder": run_ladder_stage(args, device, out_dir) if "ladder" in stages else None,
              "parallel": run_parallel_stage(args, device, out_dir) if "parallel" in stages else None,
              "reference_h100_raw_qlora": {k: {"tokens_per_s": v[0], "peak_gib": v[1]}
                                           for k, v in REFERENCE_H100_RAW_QLORA.items()}}
    report["seconds"] = time.perf_counter() - started
    text = markdown(report)
    print(text)
    Path(args.out or out_dir / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str))
    (out_dir / "gpu_check.md").write_text(text)
    return report


if __name__ == "__main__":
    main()
