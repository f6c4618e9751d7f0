"""The both rung, measured: RAFT (labkit.ladder.both.BothConfig) against the base model on the same retrieved
passages, with and without the JSON guard, the RAFT paper's probes, and the v2 update, in one run.

Rows on the ladder's held-out sample (profile-sized facts + unanswerable questions, seed 0): base + top-k,
RAFT + top-k (guard off, then on), each behind the rung's coverage gate; then `labkit.ladder.both.comparison` on 20
of the facts (base, the facts fine-tune with --facts, RAFT with passages / none / oracle only / distractors
only); then the v2 update.

    HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci python scripts/bench_raft.py [--facts] [--without-oracle answer]
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import replace

from labkit.course.corpus import course_corpus
from labkit.course.sample import SAMPLE_SIZE, heldout_sample
from labkit.ladder import both
from labkit.ladder.rag import build_retriever, gate, pick_retriever
from labkit.models import load_generator
from labkit.runtime import get_profile, seed_everything
from labkit.scoreboard import format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", action="store_true", help="add the facts fine-tune (lab 07's adapter) to the comparison")
    parser.add_argument("--without-oracle", choices=("answer", "abstain"), default=None)
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    args = parser.parse_args()
    config = both.BothConfig()
    if args.without_oracle:
        config = replace(config, raft=replace(config.raft, without_oracle=args.without_oracle))
    if args.epochs:
        config = replace(config, training=replace(config.training, epochs=args.epochs))
    if args.learning_rate:
        config = replace(config, training=replace(config.training, learning_rate=args.learning_rate))
    print(config, flush=True)
    profile = get_profile()
    corpus = course_corpus()
    heldout = heldout_sample(corpus, SAMPLE_SIZE, seed_everything(0))
    hybrid = build_retriever(corpus, "v1")
    examples = both.raft_set(corpus, hybrid, config)
    fitted = both.train_raft(profile.generator, examples, config)
    print(f"RAFT set {len(examples)} examples; trained {fitted.result.seconds:.0f} s, loss "
          f"{fitted.result.losses[0]:.2f} -> {fitted.result.losses[-1]:.2f}{' (cache)' if fitted.from_cache else ''}")
    questions = heldout.questions
    reader = pick_retriever(hybrid, config.retriever)
    thresholds = gate(corpus, reader, config.k, config.abstain_quantile)
    top = both.retrieved(reader, questions, config.k, **thresholds)
    base_model, tokenizer = load_generator(profile.generator)
    rows = [both.score_row(corpus, both.answer_with(base_model, tokenizer, questions, top), questions, top,
                           both.variant_name(config, "base"), {"rung": "rag"})]
    for guard in (False, True):
        answers = both.answer_with(fitted.model, fitted.tokenizer, questions, top, json_only=guard)
        rows.append(both.score_row(corpus, answers, questions, top, both.variant_name(replace(config, json_only=guard)),
                                   {"rung": "both"}, json_format=True))
    print(format_table(rows), flush=True)
    facts_fitted = None
    if args.facts:
        from labkit.ladder.ft import FACTS_TRAINING, FactsConfig, fact_sets
        from labkit.tuning.fit import fit

        facts_fitted = fit(profile.generator, fact_sets(corpus, FactsConfig(), random.Random(0)).examples, FACTS_TRAINING)
    compared, _ = both.comparison(base_model, tokenizer, corpus, fitted, random.Random(0).sample(heldout.facts, 20), hybrid,
                                  config, facts_fitted)
    print(format_table(compared), flush=True)
    started = time.perf_counter()
    update = both.update_row(fitted.model, fitted.tokenizer, corpus, hybrid, {"rung": "both"}, config,
                             both.variant_name(config), thresholds=thresholds)
    print(format_table(rows + compared + [update]))
    print(f"v2 row wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
