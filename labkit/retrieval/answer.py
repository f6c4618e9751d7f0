"""Retrieval-augmented answers: retrieve (as the asking role) -> prompt with numbered passages -> generate.

Each answer comes back with the passages the model was given, the document ids it
cited, its token counts and the time each stage took. When the best passage scores
below ``RagConfig.min_score``, when the passages cover too little of the question
(``RagConfig.min_coverage``, for a BM25 retriever: :func:`coverage_threshold` calibrates
it), or when the role may read nothing relevant, the answer abstains instead of
guessing, and the model is not called at all.

A gated question never reaches the model, so this runs without one:

>>> from types import SimpleNamespace as Doc
>>> from labkit.retrieval.chunk import chunk_whole
>>> from labkit.retrieval.lexical import BM25Index
>>> bm25 = BM25Index.build(chunk_whole(Doc(doc_id="wiki-returns", title="Returns", access="public", doc_version=1,
...                                        text="Opened items carry a 15% restocking fee.")))
>>> gate = RagConfig(min_score=0.0, min_coverage=0.5)
>>> [a.abstained for a in answer_questions(["Is there a gym allowance?"], bm25, None, None, config=gate)]
[True]
>>> answers = answer_questions(["What is the restocking fee?"], bm25, model, tokenizer, config=gate)  # doctest: +SKIP
>>> answers[0].text, answers[0].cited_doc_ids                                                        # doctest: +SKIP
('The restocking fee is 15% [1].', ['wiki-returns'])
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from labkit.errors import LabkitError
from labkit.evals import answer_verdict, is_abstention
from labkit.generate import GenerateConfig, generate
from labkit.prompts import ABSTAIN_ANSWER, rag_messages
from labkit.scoreboard import new_figure


@dataclass(frozen=True)
class RagConfig:
    """Retrieval depth, the abstention threshold (cosine of the best passage), and the answer length."""

    k: int = 3
    min_score: float = 0.3  # below this, the best passage is "not relevant enough": abstain
    min_coverage: float = 0.0  # below this share of the question's terms in the passages, abstain (BM25 only)
    min_passage_coverage: float = 0.0  # ... or below this share in the best single passage (BM25 only)
    max_new_tokens: int = 48  # the 135M model restates the question before the value
    batch_size: int = 16


@dataclass(frozen=True)
class RagAnswer:
    question: str
    text: str
    passages: list = field(default_factory=list)  # the Hits given to the model, in prompt order
    cited_doc_ids: list[str] = field(default_factory=list)
    abstained: bool = False  # True when retrieval found nothing relevant enough (model not called)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retrieve_ms: float = 0.0
    prompt_ms: float = 0.0
    generate_ms: float = 0.0

    @property
    def latency_ms(self) -> float:
        return self.retrieve_ms + self.prompt_ms + self.generate_ms


def cited_doc_ids(answer: str, passage_doc_ids: list[str]) -> list[str]:
    """Document ids an answer cites: by passage number ``[n]`` or by naming the id itself.

    >>> cited_doc_ids("It is 15% [2].", ["wiki-a", "wiki-returns"])
    ['wiki-returns']
    >>> cited_doc_ids("See wiki-a and [7].", ["wiki-a"])
    ['wiki-a']
    """
    cited = [passage_doc_ids[int(n) - 1] for n in re.findall(r"\[(\d+)\]", answer)
             if 1 <= int(n) <= len(passage_doc_ids)]
    cited += [d for d in passage_doc_ids if re.search(rf"(?<![\w-]){re.escape(d)}(?![\w-])", answer)]
    return list(dict.fromkeys(cited))


def relevant_enough(retriever, question: str, hits: list, config: RagConfig) -> bool:
    """Whether ``hits`` are worth showing the model: the best scores at least ``min_score`` and, when
    ``min_coverage`` is set, the passages hold enough of the question (``retriever.coverage``, a BM25 index's),
    and, when ``min_passage_coverage`` is set, one passage alone does (``retriever.passage_coverage``).

    >>> from types import SimpleNamespace as H
    >>> relevant_enough(None, "q", [H(score=0.5)], RagConfig()), relevant_enough(None, "q", [], RagConfig())
    (True, False)
    """
    if not hits or hits[0].score < config.min_score:
        return False
    if config.min_coverage <= 0 and config.min_passage_coverage <= 0:
        return True
    chunks, coverage = [h.chunk for h in hits], measures_coverage(retriever)
    return (config.min_coverage <= 0 or coverage.coverage(question, chunks) >= config.min_coverage) and \
        (config.min_passage_coverage <= 0 or coverage.passage_coverage(question, chunks) >= config.min_passage_coverage)


def measures_coverage(retriever):
    """``retriever`` itself, if it can measure coverage (BM25 and hybrid can, a dense index cannot)."""
    if not hasattr(retriever, "coverage"):
        raise LabkitError(f"a coverage gate needs a retriever that measures coverage, not a {type(retriever).__name__}",
                          "use a labkit.retrieval.lexical.BM25Index or HybridRetriever, or leave min_coverage at 0")
    return retriever


def coverage_threshold(retriever, questions: list[str], k: int = 3, role: str | None = None,
                       quantile: float = 0.02) -> float:
    """A ``min_coverage`` calibrated without a single unanswerable question: the coverage (see
    :meth:`labkit.retrieval.lexical.BM25Index.coverage`) that only ``quantile`` of these answerable ``questions`` (a
    training split, never the held-out one) fall below, with their top-``k`` passages. Questions about
    things the corpus never mentions fall below it far more often.

    >>> from types import SimpleNamespace as Doc
    >>> from labkit.retrieval.chunk import chunk_whole
    >>> from labkit.retrieval.lexical import BM25Index
    >>> docs = [Doc(doc_id="a", text="Refunds take 30 days by card", access="public", doc_version=1),
    ...         Doc(doc_id="b", text="The office opens at nine", access="public", doc_version=1)]
    >>> bm25 = BM25Index.build([c for d in docs for c in chunk_whole(d)])
    >>> questions = ["how long do refunds take", "when does the office open"]  # "how", "long", "when" are in no passage
    >>> round(coverage_threshold(bm25, questions, k=1, quantile=0.5), 2)
    0.24
    """
    import numpy as np

    if not questions or not 0 <= quantile < 1:
        raise LabkitError(f"coverage_threshold got {len(questions)} questions and quantile={quantile}",
                          "pass at least one answerable question and a quantile in [0, 1)")
    coverage = measures_coverage(retriever).coverage
    covered = [coverage(q, [h.chunk for h in retriever.search(q, k=k, role=role)]) for q in questions]
    return float(np.quantile(covered, quantile))


def separating_threshold(keep: Sequence[float], drop: Sequence[float]) -> float:
    """The threshold that best tells ``keep`` scores (at or above it: answer) from ``drop`` scores (below it:
    abstain): the largest share of keeps kept plus drops dropped (Youden's J), the lowest such value on a tie.

    >>> separating_threshold([0.5, 0.6, 0.9], [0.1, 0.2, 0.55])
    0.5
    >>> separating_threshold([0.5], [])   # nothing to drop: no threshold
    0.0
    """
    if not drop:
        return 0.0
    if not keep:
        raise LabkitError("separating_threshold got no score to keep", "pass the scores of answerable questions")
    candidates = sorted({0.0, *keep, *drop})
    return max(candidates, key=lambda t: (sum(k >= t for k in keep) / len(keep) + sum(d < t for d in drop) / len(drop), -t))


def passage_coverage_threshold(retriever, answerable: Sequence[tuple[str, str | None]],
                               denied: Sequence[tuple[str, str | None]], k: int = 3) -> float:
    """A ``min_passage_coverage`` from two kinds of training questions, each a ``(question, role)``: ones the
    role may read the answer to (``answerable``: answer) and ones it may not (``denied``: the passages it gets
    are about something else, so abstain), by :func:`separating_threshold` on the best single passage's
    coverage (:meth:`labkit.retrieval.lexical.BM25Index.passage_coverage`) of the top ``k``. No denied
    question: 0.0 (no such gate)."""
    best = measures_coverage(retriever).passage_coverage
    score = lambda q, role: best(q, [h.chunk for h in retriever.search(q, k=k, role=role)])  # noqa: E731
    return separating_threshold([score(q, r) for q, r in answerable], [score(q, r) for q, r in denied])


def answer_questions(questions: list[str], retriever, model, tokenizer, role: str | None = None,
                     config: RagConfig = RagConfig(), build_prompt: Callable = rag_messages) -> list[RagAnswer]:
    """Answer each question from what ``role`` may read; ``retriever`` is anything with
    ``search(query, k, role) -> list[Hit]`` (a VectorIndex, a HybridRetriever...). ``build_prompt(question,
    [(doc_id, text), ...])`` writes the chat messages (lab 04's exercise hands in the learner's own)."""
    retrieved, conversations, timings = [], [], []
    for question in questions:
        start = time.perf_counter()
        hits = retriever.search(question, k=config.k, role=role)
        middle = time.perf_counter()
        relevant = relevant_enough(retriever, question, hits, config)
        # each passage keeps its heading path, so a table row still says which product it belongs to
        messages = build_prompt(question, [(h.chunk.doc_id, h.chunk.searchable_text) for h in hits]) if relevant else None
        timings.append(((middle - start) * 1000, (time.perf_counter() - middle) * 1000))
        retrieved.append(hits if relevant else [])
        conversations.append(messages)
    asked = [c for c in conversations if c is not None]
    generated = iter(generate(model, tokenizer, asked, GenerateConfig(config.max_new_tokens, config.batch_size)))
    answers = []
    for question, hits, messages, (retrieve_ms, prompt_ms) in zip(questions, retrieved, conversations, timings):
        if messages is None:
            answers.append(RagAnswer(question, ABSTAIN_ANSWER, abstained=True,
                                     retrieve_ms=retrieve_ms, prompt_ms=prompt_ms))
            continue
        out = next(generated)
        doc_ids = [h.chunk.doc_id for h in hits]
        answers.append(RagAnswer(question, out.text, hits, cited_doc_ids(out.text, doc_ids), False,
                                 out.prompt_tokens, out.completion_tokens, retrieve_ms, prompt_ms, out.latency_ms))
    return answers


def threshold_tradeoff(answers: list[RagAnswer], golds: list, answerable: list[bool],
                       thresholds: list[float], score: Callable[[RagAnswer], float] | None = None) -> list[dict]:
    """What each abstention threshold would do to answers generated without one: the share of questions
    answered, and the accuracy over all questions (an abstention is right only where the question is
    unanswerable). ``score`` is what the threshold is compared with (default: the best passage's score, as
    ``RagConfig.min_score``; :func:`coverage_score` for a coverage gate, as ``RagConfig.min_coverage``).

    >>> from types import SimpleNamespace as H
    >>> a = RagAnswer("q", "It is 30 days", passages=[H(score=0.5)])
    >>> threshold_tradeoff([a], [["30 days"]], [True], [0.4, 0.6])
    [{'threshold': 0.4, 'answered': 1.0, 'accuracy': 1.0}, {'threshold': 0.6, 'answered': 0.0, 'accuracy': 0.0}]
    """
    def correct(answer: RagAnswer, gold, can: bool, kept: bool) -> bool:
        if not kept:  # the threshold makes it abstain
            return not can
        return answer_verdict(answer.text, gold) == "right" if can else is_abstention(answer.text)

    measure = score or (lambda a: a.passages[0].score)
    curve = []
    for t in thresholds:
        kept = [bool(a.passages) and measure(a) >= t for a in answers]
        right = [correct(a, g, can, k) for a, g, can, k in zip(answers, golds, answerable, kept)]
        curve.append({"threshold": t, "answered": sum(kept) / len(kept), "accuracy": sum(right) / len(right)})
    return curve


def coverage_score(retriever) -> Callable[[RagAnswer], float]:
    """For :func:`threshold_tradeoff`: how much of its question an answer's passages cover, as ``retriever``
    (a BM25 index or a hybrid) measures it for the coverage gate."""
    coverage = measures_coverage(retriever).coverage
    return lambda answer: coverage(answer.question, [h.chunk for h in answer.passages])


def plot_tradeoff(curve: list[dict], knob: str, chosen: float | None = None, path=None):
    """A :func:`threshold_tradeoff` curve: accuracy against the share of questions answered, each point labelled
    with its threshold (``knob`` names it); ``chosen`` marks the threshold a system uses. Returns the figure."""
    fig = new_figure((6.5, 3.8), path)
    ax = fig.subplots()
    ax.plot([p["answered"] for p in curve], [p["accuracy"] for p in curve], marker="o", color="#1f77b4")
    same_point: dict[tuple[float, float], list[str]] = {}  # thresholds that do the same share one label
    for p in curve:
        same_point.setdefault((p["answered"], p["accuracy"]), []).append(f"{p['threshold']:.2f}".rstrip("0").rstrip("."))
    for xy, names in same_point.items():
        ax.annotate(names[0] if len(names) == 1 else f"{names[0]} to {names[-1]}", xy, textcoords="offset points",
                    xytext=(4, 4), fontsize=8)
    if chosen is not None:
        picked = min(curve, key=lambda p: abs(p["threshold"] - chosen))
        ax.plot([picked["answered"]], [picked["accuracy"]], marker="o", markersize=12, fillstyle="none",
                color="#d62728", linestyle="none", label=f"the gate in use ({knob} {chosen:.2f})")
        ax.legend(loc="lower left", frameon=False, fontsize=9)
    ax.set_xlabel("share of questions answered")
    ax.set_ylabel("accuracy (abstaining on\nunanswerable = right)")
    ax.set_xlim(-0.05, 1.1)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"The abstention threshold (labels: {knob})", fontsize=11)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig

