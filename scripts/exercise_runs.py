"""The end-of-lab exercises that train a model again, run once and measured, for their worked answers.

Most exercises are worked out at the end of their solution notebook and executed with it. These retrain an
adapter (minutes each on a CPU), which the test budget cannot carry, so they run here instead, with the very
code the worked answer shows, and the answer quotes what this printed (docs/BENCHMARKS.md records the run):

    HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci python scripts/exercise_runs.py 06.1 06.2

Each exercise compares its variant with the lab's own run on the same tasks (the lab's adapter comes from the
cache where the lab has run; otherwise it is trained first).
"""

from __future__ import annotations

import argparse
import dataclasses
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


EXERCISES = {"06.1": exercise_06_1, "06.2": exercise_06_2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercises", nargs="+", choices=sorted(EXERCISES))
    for key in parser.parse_args().exercises:
        print(f"## exercise {key}: {EXERCISES[key].__doc__}", flush=True)
        EXERCISES[key]()


if __name__ == "__main__":
    main()
