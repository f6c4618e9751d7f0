"""The frozen held-out sample every rung is scored on, and the one way its answers are scored.

:func:`heldout_sample` draws the sample once, with the ``random.Random`` it is given: held-out fact
questions (half never trained on, half paraphrases of trained facts), unanswerable questions and
held-out format tasks. :func:`score` is the single scoring entry point of the ladder: accuracy,
hallucination, abstention and invented identifiers (:func:`labkit.evals.score_answers`), with the
corpus's own identifiers as the known ones.

>>> import random
>>> from labkit.course.corpus import course_corpus
>>> corpus = course_corpus()
>>> s = heldout_sample(corpus, 40, random.Random(0))
>>> len(s.facts), len(s.unanswerable), {r.extra["split"] for r in s.facts} == {"heldout_unseen", "heldout_paraphrase"}
(40, 20, True)
>>> score(corpus, ["I don't know.", "TCK-2024-99999"], s.unanswerable[:1] + s.facts[:1])["fabricated_id_rate"]
0.5
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from labkit import evals
from labkit.course.corpus import COURSE_SAMPLE, Corpus
from labkit.course.data import QARecord
from labkit.errors import LabkitError


SAMPLE_SIZE = COURSE_SAMPLE  # held-out fact questions the course's rungs score, on every machine (profiles never change it)


@dataclass(frozen=True)
class HeldOut:
    """The frozen evaluation sample every rung is scored on."""

    facts: list  # fact questions: unseen facts and paraphrases of trained ones
    unanswerable: list
    format_tasks: list

    @property
    def questions(self) -> list:
        """The facts, then the unanswerable questions: what the answer rows of every rung are scored on."""
        return self.facts + self.unanswerable


def largest_sample(corpus: Corpus) -> int:
    """The largest sample :func:`heldout_sample` can draw from ``corpus`` (every held-out fact question that
    keeps the unseen and paraphrased halves equal): what ``labkit ladder --full`` scores."""
    splits = [r.extra["split"] for r in corpus.questions("facts")]
    return 2 * min(splits.count("heldout_unseen"), splits.count("heldout_paraphrase"))


def heldout_sample(corpus: Corpus, size: int | None = SAMPLE_SIZE, rng: random.Random | None = None) -> HeldOut:
    """Sample ``size`` held-out fact questions (half unseen, half paraphrased), ``size // 2`` unanswerable
    questions and ``size // 2`` held-out format tasks (fewer where the corpus has fewer), with ``rng``
    (``random.Random(0)`` when none is given: the course's sample). ``size=None``: every held-out fact
    question, unanswerable question and held-out format task, in the corpus's order (a corpus of your own,
    whose held-out questions are few, and need not split evenly into unseen and paraphrased)."""
    rng = rng if rng is not None else random.Random(0)
    facts = corpus.questions("facts")
    if size is None:
        held = [r for r in facts if r.extra["split"] != "train"]
        if not held:
            raise LabkitError(f"corpus {corpus.name!r} has no held-out fact questions",
                              "give more fact questions (a share of them trains, the rest is held out)")
        return HeldOut(facts=held, unanswerable=corpus.questions("unanswerable"), format_tasks=corpus.tasks("heldout"))
    unseen = [r for r in facts if r.extra["split"] == "heldout_unseen"]
    paraphrased = [r for r in facts if r.extra["split"] == "heldout_paraphrase"]
    half = size // 2
    unanswerable = corpus.questions("unanswerable")
    tasks = corpus.tasks("heldout")
    if len(unseen) < half or len(paraphrased) < size - half:
        raise LabkitError(f"corpus {corpus.name!r} has {len(unseen)} unseen and {len(paraphrased)} paraphrased held-out "
                          f"fact questions; a sample of {size} needs {half} and {size - half}",
                          f"ask for a smaller sample (at most {largest_sample(corpus)})")
    return HeldOut(
        facts=rng.sample(unseen, half) + rng.sample(paraphrased, size - half),
        unanswerable=rng.sample(unanswerable, min(half, len(unanswerable))),
        format_tasks=rng.sample(tasks, min(half, len(tasks))),
    )


def score(corpus: Corpus, texts: Sequence[str], records: Sequence[QARecord],
          golds: Sequence[Sequence[str]] | None = None) -> dict:
    """Score the answers ``texts`` to ``records`` (against their golds, or the ``golds`` given: a v2 answer,
    say): ``n``, strict accuracy (a value that competes with the gold, :meth:`Corpus.competing`, makes a reply
    mixed) with the lenient figure beside it, hallucination, abstention and invented-id rates, each answer's
    verdict (:func:`labkit.evals.score_answers`) and the ids of the questions, so two rungs pair up question by
    question."""
    golds = golds or [r.answers for r in records]
    competing = [_competing(corpus, r, gold) for r, gold in zip(records, golds)]
    scores = evals.score_answers(list(texts), golds, [r.answerable for r in records], corpus.known_ids,
                                 corpus.id_patterns, [r.question for r in records], competing)
    return {**scores, "question_ids": [r.id for r in records]}


def verdict(corpus: Corpus, record: QARecord, text: str, golds: Sequence[str] | None = None) -> str:
    """The strict verdict on one answer to ``record`` (against its golds, or ``golds``): ``right``, ``mixed``
    (a gold value and a competing one, :meth:`Corpus.competing`) or ``wrong`` (:func:`labkit.evals.answer_verdict`).

    >>> from labkit.course.corpus import course_corpus
    >>> corpus = course_corpus()
    >>> update = corpus.questions("updates")[2]
    >>> verdict(corpus, update, "45 days."), verdict(corpus, update, "30 days, or 45 days."), verdict(corpus, update, "30")
    ('right', 'mixed', 'wrong')
    """
    golds = list(golds or record.answers)
    return evals.answer_verdict(text, golds, _competing(corpus, record, golds), record.question)


def _competing(corpus: Corpus, record: QARecord, golds: Sequence[str]) -> list[str]:
    """What competes with ``golds`` in an answer to ``record``: :meth:`Corpus.competing`, and the record's own
    answers where it is scored against other golds (an update question against its v2 values)."""
    return [v for v in (*corpus.competing(record), *record.answers) if v not in golds]


def stale_rate(texts: Sequence[str], records: Sequence[QARecord]) -> float | None:
    """Share of answers to update questions that give the old (v1) value and not the new (v2) one.

    >>> from types import SimpleNamespace as Q
    >>> r = Q(question="", extra={"answers_v1": ["30 days"], "answers_v2": ["45 days"]})
    >>> stale_rate(["Within 30 days.", "45 days now, 30 before"], [r, r])
    0.5
    """
    return evals.rate(evals.is_stale(t, r.extra["answers_v1"], r.extra["answers_v2"], r.question)
                      for t, r in zip(texts, records))
