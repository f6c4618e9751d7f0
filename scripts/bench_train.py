"""labkit.tuning.train against a raw PyTorch LoRA loop, on the same batches, in one run.

Both start from the same freshly loaded model (QLoRA NF4 or plain LoRA), see the same
length-grouped batches of the course's format examples in the same order, and take the same
number of optimizer steps. The raw loop is what most tutorials write: ``model(**batch,
labels=labels).loss`` (logits over the whole sequence), ``backward``, ``AdamW.step``.
Throughput counts useful (non-padding) tokens. Runs alternate (labkit, raw, labkit, raw, ...)
so that a busy machine slows both alike.

    HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci python scripts/bench_train.py --steps 8 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import replace

from labkit.course import data
from labkit.ladder.ft import FORMAT_TRAINING, format_example
from labkit.tuning.train import collate, encode_example, length_grouped_batches, load_trainable, train


def raw_loop(config, examples, steps: int) -> float:
    """Tokens/s of the plain loop on the batches labkit.tuning.train would take first."""
    import torch

    model, tokenizer = load_trainable(None, config)
    encoded = [encode_example(tokenizer, e, config.max_seq_len) for e in examples]
    batches = length_grouped_batches([len(i) for i, _ in encoded], config.batch_size, random.Random(config.seed))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    tokens, started = 0, time.perf_counter()
    for batch in batches[:steps]:
        ids, mask, labels = collate([encoded[i] for i in batch], tokenizer.pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
    return tokens / (time.perf_counter() - started)


def labkit_loop(config, examples, steps: int) -> float:
    model, tokenizer = load_trainable(None, config)
    return train(model, tokenizer, examples, replace(config, max_steps=steps)).tokens_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quantize", default=FORMAT_TRAINING.quantize, choices=("auto", "nf4", "none"))
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    config = replace(FORMAT_TRAINING, quantize=args.quantize, gradient_checkpointing=False)
    examples = [format_example(t) for t in data.load_format_tasks() if t.split == "train"]
    figures = {"labkit": [], "raw": []}
    for _ in range(args.repeats):
        figures["labkit"].append(labkit_loop(config, examples, args.steps))
        figures["raw"].append(raw_loop(config, examples, args.steps))
        print(f"labkit {figures['labkit'][-1]:.0f} tokens/s   raw loop {figures['raw'][-1]:.0f} tokens/s", flush=True)
    ratio = statistics.median(figures["labkit"]) / statistics.median(figures["raw"])
    print(f"median: labkit {statistics.median(figures['labkit']):.0f}, raw {statistics.median(figures['raw']):.0f} "
          f"tokens/s; labkit / raw = {ratio:.2f} ({args.quantize}, {args.steps} steps x {args.repeats})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**figures, "ratio": ratio, "quantize": args.quantize, "steps": args.steps}, f, indent=1)


if __name__ == "__main__":
    main()
