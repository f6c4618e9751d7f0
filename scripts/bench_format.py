"""Format compliance on every held-out format task, decoder by decoder, in one run: the base model few-shot and the
format fine-tune (1-line prompt), each decoded with no constraint (``none``), labkit's JSON guard (``labkit``,
:mod:`labkit.constrain`) and the maintained schema decoders of scripts/decoders.py (``llguidance``,
``xgrammar``, ``outlines-core``, ``lmfe``: install the ones you name, see there).

Per row: compliance against the WHOLE reply schema (jsonschema Draft 2020-12, pattern included), style, the
share of replies whose ticket_id is the task's own (content, not form), replies cut off by the token
budget, generated tokens per second over the run's wall time; the decoders' one-off setup (tokenizer and
schema compile) is timed apart. ``--repeat 2`` checks that a second run writes the same replies; ``--raft N``
also asks N questions under RAFT's answer schema (the base model reading BM25 passages). The fine-tune
comes from the `fit` cache when the same run was trained before.

    HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci python scripts/bench_format.py --decoders none,labkit,llguidance,xgrammar
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labkit.generate as generate_module  # noqa: E402
from labkit import evals, prompts  # noqa: E402
from labkit.constrain import JsonGuard  # noqa: E402
from labkit.course.corpus import course_corpus  # noqa: E402
from labkit.ladder import ft  # noqa: E402
from labkit.ladder.both import answer_with, retrieved  # noqa: E402
from labkit.ladder.prompt import few_shot_examples, format_replies  # noqa: E402
from labkit.ladder.rag import build_retriever, pick_retriever  # noqa: E402
from labkit.models import load_generator  # noqa: E402
from labkit.runtime import get_profile  # noqa: E402
from labkit.tuning import raft  # noqa: E402
from labkit.tuning.fit import fit  # noqa: E402

LIBRARIES = ("torch", "transformers", "llguidance", "xgrammar", "outlines-core", "lm-format-enforcer")


def guard_for(decoder: str):
    """What goes into labkit.generate's JsonGuard slot for ``decoder``, and a function that compiles ahead."""
    if decoder in ("none", "labkit"):
        return JsonGuard, lambda tokenizer, schema: None
    import decoders

    return decoders.guard_factory(decoder), lambda tokenizer, schema: decoders.BACKENDS[decoder](tokenizer, schema)


def with_decoder(decoder: str, ask):
    """Run ``ask()`` with ``decoder`` in labkit.generate's guard slot (the kit's own path, only the guard swapped)."""
    generate_module.JsonGuard = guard_for(decoder)[0]
    try:
        started = time.perf_counter()
        return ask(), time.perf_counter() - started
    finally:
        generate_module.JsonGuard = JsonGuard


def run_one(corpus, model, tokenizer, tasks, profile, decoder: str, tuned: bool, examples) -> dict:
    """One decoder on every task, with the kit's budgets: the profile's for few-shot, ft.format_row's for the
    tuned model."""
    budget = replace(profile, max_format_tokens=max(profile.max_format_tokens, ft.REPLY_TOKENS)) if tuned else profile
    (replies, compliance), wall = with_decoder(decoder, lambda: format_replies(
        model, tokenizer, corpus, tasks, [] if tuned else list(examples), budget,
        system=prompts.TUNED_FORMAT_SYSTEM if tuned else prompts.FORMAT_SYSTEM, json_only=decoder != "none"))
    texts = [a.text for a in replies]
    ids = [(evals.extract_json(t) or {}).get("ticket_id") for t in texts]
    tokens = sum(a.completion_tokens for a in replies)
    return {"compliance": compliance, "style": ft.style_adherence(texts, corpus),
            "hit_budget": sum(a.completion_tokens >= budget.max_format_tokens for a in replies),
            "ticket_id_right": evals.rate(i == t.ticket_id for i, t in zip(ids, tasks)),
            "tokens": tokens, "wall_s": wall, "tok_per_s": tokens / wall, "texts": texts}


def raft_check(corpus, model, tokenizer, decoders_: list[str], n: int) -> dict:
    """RAFT's answer schema under each constrained decoder: the base model answers n held-out questions from
    BM25 passages; how many replies validate, and how many cite a passage below 1 (the schema's minimum)."""
    records = [r for r in corpus.questions("facts") if r.extra["split"] == "heldout_unseen"][:n]
    passages = retrieved(pick_retriever(build_retriever(corpus), "bm25"), records, k=3)
    out = {}
    for decoder in decoders_:
        answers, wall = with_decoder(decoder, lambda: answer_with(model, tokenizer, records, passages, json_only=True))
        values = [evals.extract_json(a.text) for a in answers]
        out[decoder] = {"compliance": evals.rate(evals.format_compliant(a.text, raft.ANSWER_SCHEMA) for a in answers),
                        "passage_below_1": sum(isinstance(v, dict) and isinstance(v.get("passage"), int)
                                               and v["passage"] < 1 for v in values),
                        "wall_s": wall, "texts": [a.text for a in answers]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoders", default="none,labkit", help="comma-separated, run in this order")
    parser.add_argument("--models", default="tuned,base", help="tuned (1-line prompt) and/or base (few-shot)")
    parser.add_argument("--tasks", type=int, default=None, help="score only the first N held-out tasks")
    parser.add_argument("--repeat", type=int, default=1, help="runs per constrained decoder (2: check determinism)")
    parser.add_argument("--raft", type=int, default=0, help="also check RAFT's answer schema on N questions")
    parser.add_argument("--out", type=Path, default=None, help="write every figure and reply as JSON here")
    args = parser.parse_args()
    decoders_ = args.decoders.split(",")
    corpus, profile = course_corpus(), get_profile()
    tasks = corpus.tasks("heldout")[:args.tasks]
    base_model, tokenizer = load_generator(profile.generator)
    examples = few_shot_examples(corpus, 2, random.Random(0))
    plan = []
    for which in args.models.split(","):
        if which == "base":
            plan.append(("base, few-shot", base_model, tokenizer, False))
        else:
            tuned = fit(profile.generator, ft.format_training_examples(corpus), ft.FORMAT_TRAINING)
            plan.append(("fine-tuned, 1-line prompt", tuned.model, tuned.tokenizer, True))
    setup = {}
    for decoder in decoders_:  # compile ahead, timed apart from the runs (one compile per tokenizer object)
        for schema in (corpus.reply_schema, raft.ANSWER_SCHEMA):
            for name, _, tok, _ in plan:
                started = time.perf_counter()
                guard_for(decoder)[1](tok, schema)
                setup.setdefault(decoder, {})[f"{schema['title']} ({name})"] = time.perf_counter() - started
    results = {"command": " ".join(sys.argv), "profile": profile.name, "tasks": len(tasks), "cpus": os.cpu_count(),
               "versions": {p: _version(p) for p in LIBRARIES}, "setup_s": setup, "rows": []}
    print("| model | decoder | valid (whole schema) | style | ticket_id is the task's | cut off | tokens | wall s "
          "| tok/s | same on rerun |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for decoder, (name, model, tok, is_tuned) in [(d, p) for d in decoders_ for p in plan]:
        runs = [run_one(corpus, model, tok, tasks, profile, decoder, is_tuned, examples)
                for _ in range(args.repeat if decoder != "none" else 1)]
        first = runs[0]
        same = sum(all(r["texts"][i] == first["texts"][i] for r in runs) for i in range(len(tasks)))
        results["rows"].append({"model": name, "decoder": decoder, **first, "same_on_rerun": same,
                                "wall_s_runs": [r["wall_s"] for r in runs]})
        print(f"| {name} | {decoder} | {first['compliance']:.0%} | {first['style']:.0%} | {first['ticket_id_right']:.0%} "
              f"| {first['hit_budget']} | {first['tokens']} | {first['wall_s']:.0f} | {first['tok_per_s']:.1f} | "
              f"{f'{same}/{len(tasks)}' if len(runs) > 1 else '-'} |", flush=True)
        if args.out:  # after every row, so a run cut short keeps what it measured
            args.out.write_text(json.dumps(results, indent=1))
    if args.raft:
        results["raft"] = raft_check(corpus, base_model, tokenizer, [d for d in decoders_ if d != "none"], args.raft)
        for decoder, r in results["raft"].items():
            print(f"RAFT schema, {decoder}: valid {r['compliance']:.0%}, passage < 1: {r['passage_below_1']}, "
                  f"wall {r['wall_s']:.0f} s")
    print("setup (s):", json.dumps({d: {k: round(v, 2) for k, v in s.items()} for d, s in setup.items()}))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
