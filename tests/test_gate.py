"""The rag and both rungs' abstention gate, calibrated on training questions only, measured on the held-out
sample with BM25 alone (no model): the claims of docs/BENCHMARKS.md "Abstaining when the passages do not
cover the question", kept true."""

import random

import pytest

from labkit.course.corpus import course_corpus
from labkit.course.sample import heldout_sample
from labkit.ladder.rag import ABSTAIN_QUANTILE, COURSE_CHUNKING, min_coverage
from labkit.retrieval.answer import RagConfig, relevant_enough
from labkit.retrieval.chunk import chunk_documents, default_tokenizer
from labkit.retrieval.lexical import BM25Index


@pytest.fixture(scope="module")
def course_bm25():
    corpus = course_corpus()
    chunks = chunk_documents(corpus.documents("v1"), COURSE_CHUNKING, default_tokenizer("minilm-l6"), progress=False)
    return corpus, BM25Index.build(chunks, access_policy=corpus.roles)


def abstained(bm25, questions, gate: float) -> int:
    config = RagConfig(k=3, min_score=0.0, min_coverage=gate)
    return sum(not relevant_enough(bm25, q.question, bm25.search(q.question, k=3, role="agent"), config)
               for q in questions)


def test_the_gate_abstains_on_what_the_corpus_never_mentions_and_almost_nowhere_else(course_bm25):
    corpus, bm25 = course_bm25
    gate = min_coverage(corpus, bm25, k=3)  # 2% of the answerable training questions fall below it
    assert len(corpus.train_facts("agent")) == 430 and 0.29 < gate < 0.31
    sample = heldout_sample(corpus, 40, random.Random(0))  # the ladder's sample (profile ci, seed 0)
    assert (abstained(bm25, sample.facts, gate), abstained(bm25, sample.unanswerable, gate)) == (0, 16)
    stricter = min_coverage(corpus, bm25, k=3, quantile=0.05)
    assert 0.31 < stricter < 0.33
    assert (abstained(bm25, sample.facts, stricter), abstained(bm25, sample.unanswerable, stricter)) == (5, 16)
    assert abstained(bm25, corpus.questions("updates"), gate) == 0, "an updated fact is never gated away"
    assert min_coverage(corpus, bm25, k=3, quantile=None) == 0.0 and ABSTAIN_QUANTILE == 0.02


def gated(retriever, pairs, config: RagConfig) -> int:
    """How many ``(question, role)`` pairs the gate ``config`` keeps from the model."""
    return sum(not relevant_enough(retriever, q, retriever.search(q, k=3, role=role), config) for q, role in pairs)


@pytest.mark.parametrize("which", ["course", "example"])
def test_one_passage_must_cover_the_question_so_a_denied_role_gets_an_abstention(which, course_bm25):
    """Asked by a role that may not read the answer's page, a question gets three passages about other things;
    together they can cover its words (the first half of the gate lets most through on the course), but no one
    of them does. The second half, calibrated on the training split's questions asked both ways, gates them,
    and costs no held-out answerable question, update question or unanswerable abstention."""
    from labkit.course.own import example_corpus
    from labkit.ladder.rag import gate
    from labkit.retrieval.lexical import BM25Index

    corpus = course_bm25[0] if which == "course" else example_corpus()
    bm25 = course_bm25[1] if which == "course" else BM25Index.build(
        chunk_documents(corpus.documents("v1"), COURSE_CHUNKING, default_tokenizer("minilm-l6"), progress=False),
        access_policy=corpus.roles)
    thresholds = gate(corpus, bm25, k=3)
    both_halves, union_only = RagConfig(min_score=0.0, **thresholds), RagConfig(
        min_score=0.0, min_coverage=thresholds["min_coverage"])
    assert thresholds["min_passage_coverage"] > 0
    denied = [(r.question, corpus.denied_asker(r)) for r in corpus.questions("restricted")]
    sample = heldout_sample(corpus, corpus.sample_size)
    answerable = [(r.question, corpus.asker) for r in sample.facts]
    updates = [(r.question, corpus.updater) for r in corpus.questions("updates")]
    unanswerable = [(r.question, corpus.asker) for r in sample.unanswerable]
    share = gated(bm25, denied, both_halves) / len(denied)
    assert share >= (0.75 if which == "course" else 0.9), f"{share:.0%} of {len(denied)} denied asks gated"
    assert gated(bm25, denied, union_only) / len(denied) < share - (0.3 if which == "course" else 0.1)
    assert gated(bm25, answerable, both_halves) <= gated(bm25, answerable, union_only) + len(answerable) // 20
    assert gated(bm25, updates, both_halves) == gated(bm25, updates, union_only)
    assert gated(bm25, unanswerable, both_halves) >= gated(bm25, unanswerable, union_only)
