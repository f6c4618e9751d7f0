"""Format compliance on every held-out format task: the base model few-shot, the format fine-tune, each with
and without the JSON guard (labkit.constrain), in one run.

The fine-tune is `labkit.ft.FORMAT_TRAINING` on the training tasks (from the `fit` cache when the same run
was trained before). Compliance is "parses and validates against data/reply_schema.json"; style adds the
house sign-off and no forbidden phrase.

    HF_HUB_OFFLINE=1 LABKIT_PROFILE=ci python scripts/bench_format.py
"""

from __future__ import annotations

import argparse
import random
import time

from labkit import data, ft
from labkit.ladder import few_shot_examples
from labkit.models import load_generator
from labkit.runtime import get_profile
from labkit.scoreboard import format_table
from labkit.train import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=None, help="score only the first N held-out tasks")
    args = parser.parse_args()
    profile = get_profile()
    tasks = [t for t in data.load_format_tasks() if t.split == "heldout"][:args.tasks]
    base_model, tokenizer = load_generator(profile.generator)
    examples = few_shot_examples(2, random.Random(0))
    tuned = fit(profile.generator, [ft.format_example(t) for t in data.load_format_tasks() if t.split == "train"],
                ft.FORMAT_TRAINING)
    rows = []
    for name, model, tok, is_tuned in (("base, few-shot", base_model, tokenizer, False),
                                       ("fine-tuned, 1-line prompt", tuned.model, tuned.tokenizer, True)):
        for guard in (False, True):
            started = time.perf_counter()
            row, _ = ft.format_row(model, tok, tasks, profile, f"{name}{', JSON guard' if guard else ''}",
                                   tuned=is_tuned, examples=() if is_tuned else examples,
                                   base={"rung": "ft" if is_tuned else "prompt"}, json_only=guard)
            row.wall_seconds = time.perf_counter() - started
            rows.append(row)
            print(format_table(rows[-1:]), f"\n  wall {row.wall_seconds:.0f} s", flush=True)
    print(format_table(rows))


if __name__ == "__main__":
    main()
