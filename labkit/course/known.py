"""What the base model already knows: the known/unknown split of the ``general`` set.

Following Gekhman et al. (2024), a question is *known* when the greedy answer is right and at least
half of a few sampled answers are too. Fine-tuning on new facts is then measured against this split:
forgetting shows as lost accuracy on the known part. The split is course data
(``quillmoor/general_known.json``); asking the model for it is the prompt rung's job
(:func:`labkit.ladder.prompt.measure_known`, ``python -m labkit data --measure-known``).

>>> from labkit.course.data import load_general_known
>>> known = load_general_known()
>>> known["counts"], known["n_known"]
({'HighlyKnown': 13, 'MaybeKnown': 52, 'Unknown': 27, 'WeaklyKnown': 19}, 43)
"""

from __future__ import annotations

import random
from typing import Callable

from labkit.course.data import QARecord
from labkit.evals import answer_matches


def split_known(general_records: list, answer_fn: Callable[[str, bool, random.Random], str],
                n_samples: int, rng: random.Random) -> dict:
    """Label general questions by what the model knows (after Gekhman et al., 2024).

    ``answer_fn(question, sample, rng)`` answers greedily when ``sample`` is False. A question is
    *known* when the greedy answer is correct and at least half of ``n_samples`` samples are.
    Categories: HighlyKnown (greedy and every sample right), MaybeKnown (greedy right, some
    samples wrong), WeaklyKnown (greedy wrong, some sample right), Unknown (nothing right).

    >>> recs = [{"id": "g1", "question": "2+2?", "answers": ["4"]}]
    >>> split_known(recs, lambda q, s, r: "4", 2, random.Random(0))["records"]["g1"]["category"]
    'HighlyKnown'
    """
    out, counts = {}, {"HighlyKnown": 0, "MaybeKnown": 0, "WeaklyKnown": 0, "Unknown": 0}
    for rec in general_records:
        rid, question, golds = (rec.id, rec.question, rec.answers) if isinstance(rec, QARecord) else (
            rec["id"], rec["question"], rec["answers"])
        greedy = answer_matches(answer_fn(question, False, rng), golds)
        hits = sum(answer_matches(answer_fn(question, True, rng), golds) for _ in range(n_samples))
        if greedy:
            category = "HighlyKnown" if hits == n_samples else "MaybeKnown"
        else:
            category = "WeaklyKnown" if hits else "Unknown"
        counts[category] += 1
        out[rid] = {"known": greedy and 2 * hits >= n_samples, "category": category,
                    "greedy_correct": greedy, "sample_hits": hits}
    return {"n_samples": n_samples, "criterion": "greedy correct and at least half of the samples correct",
            "counts": counts, "n_known": sum(r["known"] for r in out.values()), "records": out}


