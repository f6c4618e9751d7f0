"""The end-of-lab exercises that train a model again, run once and measured, for their worked answers.

Most exercises are worked out at the end of their solution notebook and executed with it. These retrain an
adapter (minutes each on a CPU), which the test budget cannot carry, so they run here instead, with the very
code the worked answer shows, and the answer quotes what this printed (docs/BENCHMARKS.md records the run):

    HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci python scripts/exercise_runs.py 06.1 06.2 07.1 07.2

Each exercise compares its variant with the lab's own run on the same tasks (the lab's adapter comes from the
cache where the lab has run; otherwise it is trained first).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import random

from labkit import stats


def format_lab():
    """Lab 06's setting: the corpus, its training examples, the 10 scored tasks and the 8 validation tasks."""
    from labkit.course import data
    from labkit.course.corpus import course_corpus
    from labkit.ladder.ft import format_example, format_training_examples

    corpus = course_corpus()
    heldout = [t for t in data.load_format_tasks() if t.split == "heldout"]
    sample = random.Random(0).sample(heldout, 10)
    validation = [format_example(t) for t in heldout if t not in sample][:8]
    return corpus, format_training_examples(corpus), sample, validation


def score_format(label: str, fitted, corpus, sample) -> None:
    """Print one adapter's training and held-out losses, compliance and style on lab 06's 10 tasks."""
    from labkit.ladder.ft import format_row
    from labkit.runtime import get_profile

    row, _ = format_row(fitted.model, fitted.tokenizer, corpus, sample, get_profile(), label, tuned=True,
                        base={"rung": "ft"})
    result = fitted.result
    heldout = result.heldout_losses
    print(f"{label}: {result.steps} steps, training loss {result.losses[0]:.2f} -> {result.losses[-1]:.2f}, held-out "
          f"{heldout[0][1]:.2f} -> {heldout[-1][1]:.2f}; compliance {stats.describe_rate(row.format_compliance, n=row.n)},"
          f" house voice {stats.describe_rate(row.style_adherence, n=row.n)}", flush=True)


def exercise_06_1() -> None:
    """Half the epochs: where does compliance land?"""
    from labkit.ladder.ft import FORMAT_TRAINING
    from labkit.tuning.fit import fit
    from labkit.runtime import get_profile

    corpus, examples, sample, validation = format_lab()
    for label, config in (("lab 06's run, 1.5 epochs", FORMAT_TRAINING),
                          ("half of it, 0.75 epochs", dataclasses.replace(FORMAT_TRAINING, epochs=0.75))):
        score_format(label, fit(get_profile().generator, examples, config, heldout=validation), corpus, sample)


def exercise_06_2() -> None:
    """Training replies without their sign-off: what happens to the house voice?"""
    from labkit.ladder.ft import FORMAT_TRAINING
    from labkit.runtime import get_profile
    from labkit.tuning.fit import fit
    from labkit.tuning.train import Example

    corpus, examples, sample, validation = format_lab()
    unsigned = [Example(e.messages, json.dumps({k: v for k, v in json.loads(e.completion).items() if k != "sign_off"}))
                for e in examples]
    for label, chosen in (("lab 06's replies", examples), ("replies without sign_off", unsigned)):
        score_format(label, fit(get_profile().generator, chosen, FORMAT_TRAINING, heldout=validation), corpus, sample)


@functools.cache
def facts_lab():
    """Lab 07's setting, computed once per process: the corpus, the six fact sets (seed 0) and the base model's
    scores on them."""
    from labkit.course.corpus import course_corpus
    from labkit.ladder.ft import FactsConfig, fact_sets, score_fact_sets
    from labkit.models import load_generator
    from labkit.runtime import get_profile

    profile = get_profile()
    corpus = course_corpus()
    sets = fact_sets(corpus, FactsConfig(), random.Random(0))
    base_model, tokenizer = load_generator(profile.generator)
    return corpus, sets, score_fact_sets(base_model, tokenizer, corpus, sets, profile)


def score_facts(runs: dict, before: dict) -> None:
    """Print, set by set, the base model's accuracy and each run's (``runs``: label -> scores), with the points
    each run lost (lab 07's count: a lost right answer or a newly invented id is one point)."""
    from labkit.ladder.ft import FACT_SET_NAMES, points_lost

    lost = {label: points_lost(before, after) for label, after in runs.items()}
    print("| set | base | " + " | ".join(runs) + " |")
    for name, title in FACT_SET_NAMES.items():
        cells = [stats.describe_rate(before[name]["accuracy"], n=before[name]["n"])]
        cells += [f"{stats.describe_rate(after[name]['accuracy'], n=after[name]['n'])}, "
                  f"ids invented {after[name]['fabricated_id_rate']:.0%}, {lost[label][name]:+.0f} points lost"
                  for label, after in runs.items()]
        print(f"| {title} | " + " | ".join(cells) + " |", flush=True)


def train_facts(examples, config):
    """Train (or load the identical cached run of) the facts adapter and score the six sets; print its cost."""
    from labkit.ladder.ft import score_fact_sets
    from labkit.runtime import get_profile
    from labkit.tuning.fit import fit

    fitted = fit(get_profile().generator, examples, config)
    result = fitted.result
    print(f"  {len(examples)} examples, {config.epochs:g} epochs: {result.steps} steps, {result.seconds:.0f} s"
          f"{' (from the cache)' if fitted.from_cache else ''}, training loss {result.losses[0]:.2f} -> "
          f"{result.losses[-1]:.2f}", flush=True)
    corpus, sets, _ = facts_lab()
    return score_fact_sets(fitted.model, fitted.tokenizer, corpus, sets, get_profile())


@functools.cache
def lab07_run():
    """Lab 07's own adapter (from the cache where the lab has run; else trained), scored on the six sets."""
    from labkit.ladder.ft import FACTS_TRAINING

    return train_facts(facts_lab()[1].examples, FACTS_TRAINING)


def exercise_07_1() -> None:
    """Stop after 2 epochs: which sets change, and is set (f) better off?"""
    from labkit.ladder.ft import FACTS_TRAINING

    _, sets, before = facts_lab()
    score_facts({"lab 07's run, 6 epochs": lab07_run(),
                 "2 epochs": train_facts(sets.examples, dataclasses.replace(FACTS_TRAINING, epochs=2))}, before)


def exercise_07_2() -> None:
    """Train without the 12 known general questions: does forgetting on (f) get worse?"""
    from labkit.ladder.ft import FACTS_TRAINING

    _, sets, before = facts_lab()
    known = {r.question for r in sets.known_trained}
    unknown_only = [e for e in sets.examples if e.messages[-1]["content"] not in known]
    print(f"  {len(sets.examples) - len(unknown_only)} known examples removed", flush=True)
    score_facts({"lab 07's run": lab07_run(),
                 "without the known questions": train_facts(unknown_only, FACTS_TRAINING)}, before)


EXERCISES = {"06.1": exercise_06_1, "06.2": exercise_06_2, "07.1": exercise_07_1, "07.2": exercise_07_2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercises", nargs="+", choices=sorted(EXERCISES))
    for key in parser.parse_args().exercises:
        print(f"## exercise {key}: {EXERCISES[key].__doc__}", flush=True)
        EXERCISES[key]()


if __name__ == "__main__":
    main()
