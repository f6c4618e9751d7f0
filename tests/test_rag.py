"""The RAG rung's core: retrieved passages reach the model, citations are read back, abstention is honest."""

from types import SimpleNamespace as Doc

import pytest

from labkit.retrieval.chunk import chunk_whole
from labkit.retrieval.embed import Embedder, EmbedConfig
from labkit.evals import is_abstention
from labkit.retrieval.index import VectorIndex
from labkit.models import load_generator
from labkit.retrieval.answer import RagConfig, answer_questions, cited_doc_ids

POLICY = {"customer": ["public"], "agent": ["public", "staff"]}
DOCS = [
    Doc(doc_id="wiki-returns", access="public", doc_version=1,
        text="Quillmoor accepts returns within 45 days of delivery. Opened items carry a 15% restocking fee."),
    Doc(doc_id="wiki-margins", access="staff", doc_version=1,
        text="The gross margin target for the Zarvo loggers is 37.5 percent."),
    Doc(doc_id="wiki-holidays", access="public", doc_version=1,
        text="The support desk is closed on the first Monday of August for the summer holiday."),
]


@pytest.fixture(scope="module")
def index():
    embedder = Embedder(EmbedConfig(progress=False))
    return VectorIndex.build([c for d in DOCS for c in chunk_whole(d)], embedder, access_policy=POLICY)


@pytest.fixture(scope="module")
def generator():
    return load_generator("smollm2-135m")


def test_retrieved_passages_really_reach_the_model_input(index, generator):
    model, tokenizer = generator
    seen = []
    original = model.generate

    def spy(*args, **kwargs):
        seen.extend(tokenizer.batch_decode(kwargs["input_ids"]))
        return original(*args, **kwargs)

    model.generate = spy
    try:
        (answer,) = answer_questions(["How many days do I have to return an item?"], index, model, tokenizer,
                                     role="customer", config=RagConfig(k=2, min_score=0.0, max_new_tokens=16))
    finally:
        del model.generate
    assert len(seen) == 1
    assert "Quillmoor accepts returns within 45 days of delivery" in seen[0]
    assert "(wiki-returns)" in seen[0] and "How many days do I have to return an item?" in seen[0]
    assert answer.passages[0].chunk.doc_id == "wiki-returns"
    assert answer.prompt_tokens > 30 and answer.retrieve_ms > 0 and answer.generate_ms > 0


def test_a_forbidden_document_never_reaches_the_prompt(index, generator):
    model, tokenizer = generator
    (answer,) = answer_questions(["What is the gross margin target for the Zarvo loggers?"], index, model, tokenizer,
                                 role="customer", config=RagConfig(k=3, min_score=0.0, max_new_tokens=16))
    assert all(h.chunk.doc_id != "wiki-margins" for h in answer.passages)
    assert "37.5" not in answer.text


def test_nothing_relevant_means_abstain_without_calling_the_model(index, generator):
    model, tokenizer = generator
    calls = []
    model.generate = lambda *a, **k: calls.append(1)
    try:
        (answer,) = answer_questions(["Who won the 1998 chess olympiad?"], index, model, tokenizer,
                                     role="customer", config=RagConfig(min_score=0.6))
    finally:
        del model.generate
    assert answer.abstained and is_abstention(answer.text) and not answer.passages and not calls


def test_citations_by_number_or_id():
    assert cited_doc_ids("It is 45 days [1], see also [3].", ["a", "b", "c"]) == ["a", "c"]
    assert cited_doc_ids("According to wiki-returns, 45 days.", ["wiki-holidays", "wiki-returns"]) == ["wiki-returns"]
    assert cited_doc_ids("[9] says so", ["a"]) == []


def test_no_denied_role_ever_retrieves_a_restricted_source():
    """qa_restricted, whole set: for every role that may not read the gold document, the gold
    document never reaches the passages (so no answer can leak it), whatever k is."""
    from labkit.course.corpus import course_corpus
    from labkit.ladder.rag import build_index

    corpus = course_corpus()
    index = build_index(corpus, "v1")
    checked = 0
    for record in corpus.questions("restricted"):
        for role in record.extra["denied_roles"]:
            hits = index.search(record.question, k=50, role=role)
            assert not set(record.gold_doc_ids) & {h.chunk.doc_id for h in hits}, (record.id, role)
            checked += 1
        gold_labels = {c.access for c in index.chunks.values() if c.doc_id in record.gold_doc_ids}
        assert gold_labels and all(gold_labels <= set(corpus.roles[r]) for r in record.extra["allowed_roles"])
    assert checked >= 48


def test_the_coverage_gate_abstains_on_what_the_corpus_never_mentions_without_calling_the_model(generator):
    from labkit.errors import LabkitError
    from labkit.retrieval.lexical import BM25Index
    from labkit.retrieval.answer import coverage_threshold

    model, tokenizer = generator
    bm25 = BM25Index.build([c for d in DOCS for c in chunk_whole(d)], access_policy=POLICY)
    answerable = ["How many days do I have to return an item?", "What is the restocking fee for opened items?",
                  "When is the support desk closed for the summer holiday?"]
    threshold = coverage_threshold(bm25, answerable, k=1, role="customer", quantile=0.0)
    assert 0 < threshold < 1  # the worst-covered answerable question sits exactly on it
    calls = []
    model.generate = lambda *a, **k: calls.append(1)
    try:
        (gym,) = answer_questions(["How much does Quillmoor reimburse for a gym membership?"], bm25, model, tokenizer,
                                  role="customer", config=RagConfig(k=1, min_score=0.0, min_coverage=threshold))
    finally:
        del model.generate
    assert gym.abstained and is_abstention(gym.text) and not calls
    (fee,) = answer_questions([answerable[1]], bm25, model, tokenizer, role="customer",
                              config=RagConfig(k=1, min_score=0.0, min_coverage=threshold, max_new_tokens=8))
    assert not fee.abstained and fee.passages[0].chunk.doc_id == "wiki-returns"
    with pytest.raises(LabkitError, match="coverage"):  # a dense index measures no coverage: said, not ignored
        answer_questions(["Anything?"], index_without_coverage(), model, tokenizer, config=RagConfig(min_coverage=0.3))
    with pytest.raises(LabkitError, match="quantile"):
        coverage_threshold(bm25, [], k=1)


def index_without_coverage():
    from labkit.retrieval.index import Hit

    class Dense:
        def search(self, query, k=3, role=None):
            return [Hit(chunk_whole(DOCS[0])[0], 0.9)]

    return Dense()
