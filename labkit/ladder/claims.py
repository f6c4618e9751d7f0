"""The course's claims as relations between measured rows, checked wherever the ladder runs.

A claim is a sentence the labs make ("RAG absorbs an update far faster than a retrain") and the relation
between two measured figures that makes it true. :func:`verify_claims` evaluates every claim whose figures
were measured and prints one line per claim, without the numbers (they move from machine to machine within
their intervals; the relation must not), so a notebook's stored output stays the same on every CPU; a
claim that fails raises, with its numbers.

>>> from labkit.scoreboard import Row
>>> rows = [Row("prompt", "closed-book", metric_role="answers", headline=True, accuracy=0.0),
...         Row("prompt", "few-shot", metric_role="format", headline=True, format_compliance=0.0),
...         Row("rag", "bm25 top-3", metric_role="answers", headline=True, accuracy=0.55),
...         Row("rag", "style guide", metric_role="format", headline=True, format_compliance=0.0),
...         Row("rag", "updated-index", metric_role="update", headline=True, stale_rate=0.0, update_seconds=5.0),
...         Row("ft", "format", metric_role="format", headline=True, format_compliance=1.0),
...         Row("ft", "facts (e)", metric_role="update", headline=True, stale_rate=0.4, update_seconds=150.0)]
>>> print(verify_claims(rows))
holds: RAG answers more of the course's questions than the closed-book base model
holds: RAG absorbs the corpus update at least 10 times faster than retraining the fine-tune
holds: after the update, the fine-tune gives stale answers more often than RAG
holds: the format fine-tune follows the reply schema more often than the few-shot prompt
holds: retrieving the style guide does not fix the format as the fine-tune does (RAG to fix a format)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from labkit.errors import LabkitError
from labkit.scoreboard import Row, chosen_seed, headlines, train_seeds


@dataclass(frozen=True)
class Claim:
    """One sentence of the course and the relation of measured figures (:func:`figures`) that makes it true;
    ``needs`` names the (rung, figure) pairs it reads."""

    statement: str
    needs: tuple[tuple[str, str], ...]
    holds: Callable[..., bool]  # called with the figures named in ``needs``, in order


CLAIMS = (
    Claim("RAG answers more of the course's questions than the closed-book base model",
          (("rag", "accuracy"), ("prompt", "accuracy")), lambda rag, prompt: rag > prompt),
    Claim("RAG absorbs the corpus update at least 10 times faster than retraining the fine-tune",
          (("rag", "update_seconds"), ("ft", "update_seconds")), lambda rag, ft: 10 * rag <= ft),
    Claim("after the update, the updated index states the new value more often than the stale one",
          (("rag", "fresh_stated"), ("rag", "stale_index_stated")), lambda fresh, stale: fresh > stale),
    Claim("after the update, the fine-tune gives stale answers more often than RAG",
          (("ft", "stale_rate"), ("rag", "stale_rate")), lambda ft, rag: ft > rag),
    Claim("the format fine-tune follows the reply schema more often than the few-shot prompt",
          (("ft", "format_compliance"), ("prompt", "format_compliance")), lambda ft, prompt: ft > prompt),
    Claim("retrieving the style guide does not fix the format as the fine-tune does (RAG to fix a format)",
          (("rag", "format_compliance"), ("ft", "format_compliance")), lambda rag, ft: rag < ft),
    Claim("the RAFT-trained reader answers more questions than the base model reading the same passages",
          (("both", "accuracy"), ("rag", "accuracy")), lambda both, rag: both > rag),
)


def figures(rows: list[Row], train_seed: int | None = None) -> dict[str, dict]:
    """What claims read: each rung's headline figures (:func:`labkit.scoreboard.headlines`), plus, after the
    update, ``fresh_stated`` (the share of its headline update answers that state the new value at all: the
    lenient figure, since a reply that garbles the new value beside the old one still shows the index has
    it) and ``stale_index_stated``, the same for its update row that is not a headline (the rag rung's stale
    index, asked after v2 landed, before the upsert). Trained rows count for ``train_seed`` (as
    :func:`labkit.scoreboard.headlines`)."""
    summary = headlines(rows, train_seed)
    chosen = chosen_seed(rows, train_seed)
    for row in rows:
        if row.metric_role == "update" and row.rung in summary and row.train_seed in (None, chosen):
            key = "fresh_stated" if row.headline else "stale_index_stated"
            summary[row.rung][key] = row.accuracy_lenient
    return summary


def verify_claims(rows: list[Row], claims: tuple[Claim, ...] = CLAIMS) -> str:
    """Check every claim whose figures the scoreboard ``rows`` hold (:func:`figures`), on every training seed
    they hold rows of; return one line per claim checked ("holds: ..."; "on every seed" when there are
    several). A claim that fails on any seed raises :class:`LabkitError` naming it, the seed and its figures."""
    seeds = train_seeds(rows) or [None]
    by_seed = {seed: figures(rows, seed) for seed in seeds}
    lines, failed = [], []
    for claim in claims:
        checked = False
        for seed, summary in by_seed.items():
            values = [summary.get(rung, {}).get(name) for rung, name in claim.needs]
            if any(v is None for v in values):
                continue  # not measured in this run
            checked = True
            if not claim.holds(*values):
                measured = ", ".join(f"{rung} {name} = {v:.3g}" for (rung, name), v in zip(claim.needs, values))
                on_seed = f"training seed {seed}: " if len(seeds) > 1 else ""
                failed.append(f"{claim.statement} ({on_seed}{measured})")
                break
        else:
            if checked:
                lines.append(f"holds: {claim.statement}" + (" (on every training seed)" if len(seeds) > 1 else ""))
    if failed:
        raise LabkitError("a claim of the course does not hold in this run: " + "; ".join(failed),
                          "look at the rows behind it (a broken rung, a stale cache, a tiny sample) before "
                          "changing the prose that makes the claim")
    return "\n".join(lines)
