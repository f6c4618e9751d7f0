"""QLoRA (a 4-bit NF4 base) against plain LoRA (a 16-bit base) on this machine, side by side in one run.

For each training set the kit uses (the format replies of lab 06, the RAFT examples of lab 08) and each
``quantize`` setting, a fresh process loads the generator, plans memory with the profile's budget, trains a
few steps and reports useful tokens per second and its peak resident memory (``ru_maxrss``). Runs
alternate between the settings, so a busy machine slows both alike. ``TrainConfig(quantize="auto")``
picks by device (:func:`labkit.tuning.plan.resolve_quantize`); these are the figures behind its choice.

    HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci python scripts/bench_quantize.py --steps 4
    python scripts/bench_quantize.py --steps 4 --sets format    # lab 06's exercise 4: the format set only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace

SETS = ("format", "raft")


def one_run(which: str, quantize: str, steps: int) -> dict:
    """Train ``steps`` steps of ``which`` with ``quantize`` in this process; return its figures."""
    import resource

    from labkit.course.corpus import course_corpus
    from labkit.tuning.train import load_trainable, train

    corpus = course_corpus()
    if which == "format":
        from labkit.ladder.ft import FORMAT_TRAINING, format_training_examples

        examples, config = format_training_examples(corpus), FORMAT_TRAINING
    else:
        from labkit.ladder.both import BothConfig, raft_set
        from labkit.ladder.rag import build_retriever

        both = BothConfig()
        examples = [e.to_example() for e in raft_set(corpus, build_retriever(corpus, "v1"), both)]
        config = both.training
    config = replace(config, quantize=quantize, max_steps=steps)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    model, tokenizer = load_trainable(None, config)
    result = train(model, tokenizer, examples, config)
    return {"set": which, "quantize": quantize, "plan": f"{result.plan.micro_batch} x {result.plan.grad_accum}",
            "tokens_per_s": round(result.tokens_per_second), "s_per_step": round(result.seconds / result.steps, 1),
            "rss_before_gb": round(before, 2), "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="which training sets to run")
    parser.add_argument("--one", nargs=2, metavar=("SET", "QUANTIZE"), help=argparse.SUPPRESS)  # a child run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(*args.one, args.steps)))
        return
    print("| set | quantize | micro-batch x accumulation | tokens/s | s per step | peak RSS (GB) | of which before loading |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for which in args.sets:
        for _ in range(args.repeats):
            for quantize in ("nf4", "none"):
                out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--one", which, quantize],
                                     check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"| {r['set']} | {r['quantize']} | {r['plan']} | {r['tokens_per_s']} | {r['s_per_step']} | "
                      f"{r['peak_rss_gb']} | {r['rss_before_gb']} |", flush=True)


if __name__ == "__main__":
    main()
