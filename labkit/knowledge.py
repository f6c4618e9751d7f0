"""What the base model already knows: the known/unknown split of the ``general`` set.

Following Gekhman et al. (2024), a question is *known* when the greedy answer is right and
at least half of a few sampled answers are too. Fine-tuning on new facts is then measured
against this split: forgetting shows as lost accuracy on the known part.

>>> from labkit.models import load_generator
>>> model, tokenizer = load_generator()                              # doctest: +SKIP
>>> known = measure_known(model, tokenizer, n_samples=4, seed=0)      # doctest: +SKIP
>>> known["counts"]                                                   # doctest: +SKIP
{'HighlyKnown': 9, 'MaybeKnown': 6, 'WeaklyKnown': 14, 'Unknown': 82}
"""

from __future__ import annotations

import random
from collections import defaultdict

from labkit import data
from labkit.generate import GenerateConfig, generate
from labkit.prompts import chat_messages


def measure_known(model, tokenizer, n_samples: int = 4, seed: int = 0, max_new_tokens: int = 24,
                  temperature: float = 0.7) -> dict:
    """Answer every ``general`` question greedily and ``n_samples`` times sampled (in batches),
    then label each with :func:`labkit.data.split_known`."""
    records = data.load_qa("general")
    conversations = [chat_messages(r.question) for r in records]
    greedy = generate(model, tokenizer, conversations, GenerateConfig(max_new_tokens=max_new_tokens, batch_size=16))
    answers = {r.question: {"greedy": g.text, "samples": []} for r, g in zip(records, greedy)}
    sampled = GenerateConfig(max_new_tokens=max_new_tokens, batch_size=16, do_sample=True, temperature=temperature)
    for s in range(n_samples):
        for r, a in zip(records, generate(model, tokenizer, conversations, sampled, seed=seed * 1000 + s)):
            answers[r.question]["samples"].append(a.text)
    served = defaultdict(int)

    def answer_fn(question: str, sample: bool, rng: random.Random) -> str:
        if not sample:
            return answers[question]["greedy"]
        served[question] += 1
        return answers[question]["samples"][served[question] - 1]

    return data.split_known(records, answer_fn, n_samples, random.Random(seed))
