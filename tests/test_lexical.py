"""labkit.retrieval.lexical: BM25 with the same role rules as the vector index, fusion, and coverage."""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.retrieval.chunk import Chunk, chunk_whole
from labkit.retrieval.embed import HashingEmbedder
from labkit.errors import LabkitError
from labkit.retrieval.index import Hit, VectorIndex
from labkit.retrieval.lexical import (BM25Config, BM25Index, HybridConfig, HybridRetriever, Terms,
                            reciprocal_rank_fusion)

POLICY = {"customer": {"public"}, "agent": {"public", "staff"}, "admin": {"public", "staff", "security"},
          "nobody": set()}
LABELS = ["public", "staff", "security"]
WORDS = "refund invoice router firmware warehouse salary password badge ticket the of".split()


def doc(doc_id, text, access="public"):
    return SimpleNamespace(doc_id=doc_id, text=text, access=access, doc_version=1)


def chunks_of(docs):
    return [c for d in docs for c in chunk_whole(d)]


def chunk(name):
    return Chunk(f"{name}#0", name, 1, "public", 0, (), name)


DOCS = [doc("refunds", "Refunds are issued within 30 days of the purchase"),
        doc("studies", "Two studies measured router firmware failures", "staff"),
        doc("hours", "The office opens at nine and closes at five"),
        doc("badge", "Security badges are renewed every year", "security")]


def test_bm25_ranks_shared_words_first_and_stems():
    index = BM25Index.build(chunks_of(DOCS))
    assert index.search("when are refunds issued", k=1)[0].chunk.doc_id == "refunds"
    assert index.search("a study of firmware", k=1)[0].chunk.doc_id == "studies"  # study ~ studies
    scores = index.scores("office")
    assert scores[2] > 0 and np.count_nonzero(scores) == 1


def test_terms_drop_stopwords_and_can_keep_everything():
    assert Terms(BM25Config()).of("The refunds of it") == ["refund"]
    assert Terms(BM25Config(stopwords=None, stemmer=None)).of("The refunds of it") == ["the", "refunds", "of", "it"]
    with pytest.raises(LabkitError, match="stopword"):
        Terms(BM25Config(stopwords="klingon"))


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.sampled_from(LABELS), min_size=1, max_size=30),
       role=st.sampled_from(sorted(POLICY)), k=st.integers(1, 40),
       query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
       hybrid=st.booleans(), seed=st.integers(0, 1000))
def test_bm25_and_hybrid_follow_the_role_rules(labels, role, k, query, hybrid, seed):
    rng = np.random.default_rng(seed)
    docs = [doc(f"d{i}", " ".join(rng.choice(WORDS, 3)), label) for i, label in enumerate(labels)]
    lexical = BM25Index.build(chunks_of(docs), access_policy=POLICY)
    if hybrid:
        dense = VectorIndex.build(chunks_of(docs), HashingEmbedder(16), access_policy=POLICY)
        hits = HybridRetriever(dense, lexical, HybridConfig(depth=5)).search(query, k, role=role)
    else:
        hits = lexical.search(query, k, role=role)
    readable = [d for d in docs if d.access in POLICY[role]]
    assert all(h.chunk.access in POLICY[role] for h in hits)
    assert len(hits) == min(k, len(readable))
    assert len({h.chunk.chunk_id for h in hits}) == len(hits)


def test_queries_without_known_words_still_fill_k_with_zero_scores():
    index = BM25Index.build(chunks_of(DOCS), access_policy=POLICY)
    hits = index.search("the of", k=10, role="agent")  # stopwords only
    assert len(hits) == 3 and all(h.score == 0 for h in hits)
    assert [h.chunk.doc_id for h in hits] == ["refunds", "studies", "hours"]  # corpus order
    assert index.search("refund", k=5, role="nobody") == []
    with pytest.raises(LabkitError, match="unknown role"):
        index.search("refund", role="ceo")
    assert BM25Index.build([]).search("anything", 3) == []


def test_bm25_upsert_and_delete_change_only_their_document():
    index = BM25Index.build(chunks_of(DOCS))
    index.upsert(chunks_of([doc("hours", "The office now opens at eight on weekdays")]))
    assert len(index) == 4 and index.search("weekdays", 1)[0].chunk.text.startswith("The office now")
    assert index.delete_document("refunds") == 1 and len(index) == 3
    assert all(h.chunk.doc_id != "refunds" for h in index.search("refunds issued", 10))
    with pytest.raises(LabkitError, match="two chunks have the id"):
        BM25Index.build(chunks_of([DOCS[0], DOCS[0]]))


def test_rrf_by_hand():
    x, y, z = chunk("x"), chunk("y"), chunk("z")
    fused = reciprocal_rank_fusion([[Hit(x, 0.9), Hit(y, 0.1)], [Hit(y, 30.0), Hit(z, 2.0)]], rrf_k=60)
    assert [h.chunk.doc_id for h in fused] == ["y", "x", "z"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61) and fused[0].method == "hybrid"
    assert fused[1].score == pytest.approx(1 / 61) and fused[2].score == pytest.approx(1 / 62)
    assert len(reciprocal_rank_fusion([[Hit(x, 1)], [Hit(z, 1)]], limit=1)) == 1


def test_rrf_ignores_score_scales_and_rrf_k_sets_how_much_the_top_counts():
    a, b, c, x, y = (chunk(n) for n in "abcxy")
    dense = [Hit(a, 0.9), Hit(x, 0.8), Hit(b, 0.7)]
    lexical = [Hit(c, 1e6, "bm25"), Hit(y, 1.0, "bm25"), Hit(b, 0.5, "bm25")]
    # b is third in both lists; a and c are first in one list only
    assert reciprocal_rank_fusion([dense, lexical], rrf_k=60)[0].chunk.doc_id == "b"  # 2/63 > 1/61
    assert reciprocal_rank_fusion([dense, lexical], rrf_k=0)[0].chunk.doc_id == "a"  # 1/1 > 2/3
    rescaled = [Hit(h.chunk, h.score * 1000) for h in dense]
    assert ([h.chunk for h in reciprocal_rank_fusion([rescaled, lexical])]
            == [h.chunk for h in reciprocal_rank_fusion([dense, lexical])])


def test_hybrid_finds_what_either_method_alone_finds():
    docs = [doc("code", "error E4417 on the router"), doc("para", "the device will not start"),
            doc("noise1", "holiday calendar"), doc("noise2", "parking rules")]
    embedder = HashingEmbedder(64)
    hybrid = HybridRetriever(VectorIndex.build(chunks_of(docs), embedder), BM25Index.build(chunks_of(docs)))
    found = {h.chunk.doc_id for h in hybrid.search("E4417 device", k=2)}
    assert found == {"code", "para"}


def test_coverage_is_low_when_the_passages_miss_the_rare_words_of_a_question():
    index = BM25Index.build(chunks_of(DOCS))
    refunds = [c for c in index.chunks if c.doc_id == "refunds"]
    assert index.coverage("refunds issued days", refunds) == 1.0
    assert index.coverage("refunds issued days", []) == 0.0
    # the office exists, the gym does not: the same passage covers the first question better
    hours = [c for c in index.chunks if c.doc_id == "hours"]
    assert index.coverage("when does the office open", hours) > index.coverage("when does the gym open", hours)
    gym, office = index.terms.of("gym office")
    assert index.idf(gym) > index.idf(office) > 0  # a word no chunk holds weighs the most
    assert index.coverage("the of", refunds) == 0.0  # stopwords only: nothing to cover
    dense = VectorIndex.build(chunks_of(DOCS), HashingEmbedder(16))
    hybrid = HybridRetriever(dense, index)
    assert hybrid.coverage("when does the gym open", hours) == index.coverage("when does the gym open", hours)
