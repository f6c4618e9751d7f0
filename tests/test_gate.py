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
