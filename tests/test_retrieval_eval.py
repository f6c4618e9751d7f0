"""labkit.retrieval.sweep: recall by chunk size, exact vs approximate search, 2-D maps; the lab 02-03 checkers."""

import random
from types import SimpleNamespace

import numpy as np
import pytest

from labkit import checks
from labkit.retrieval.chunk import Chunk, chunk_whole
from labkit.retrieval.embed import HashingEmbedder
from labkit.errors import LabkitError
from labkit.retrieval.index import VectorIndex
from labkit.retrieval.sweep import (SweepConfig, TradeoffConfig, chunk_size_sweep, clustered_vectors, doc_ids,
                                   pca_2d, rank_documents, same_label_neighbours, sample_questions,
                                   score_rankings, search_tradeoff)

TITLES = ["refund window policy", "warehouse stock levels", "firmware update notes", "expense claims limit",
          "security badge rules", "holiday calendar dates", "shipping courier partner", "warranty claim desk"]
FILLER = "the company writes this page for its staff and customers and keeps it up to date".split()


def corpus(n_words=60, seed=0):
    rng = random.Random(seed)
    return [SimpleNamespace(doc_id=f"d{i}", title=title, kind="wiki" if i % 2 else "product", access="public",
                            doc_version=1, text=" ".join(rng.choice(FILLER) for _ in range(n_words)))
            for i, title in enumerate(TITLES)]


def title_questions(docs):
    return [SimpleNamespace(question=d.title, gold_doc_ids=(d.doc_id,)) for d in docs]


@pytest.fixture
def embedder():
    return HashingEmbedder(dimension=256)


# -- rankings and recall ---------------------------------------------------------


def test_whole_document_chunks_find_every_exact_title(embedder):
    docs = corpus()
    index = VectorIndex.build([c for d in docs for c in chunk_whole(d)], embedder)
    questions = title_questions(docs)
    rankings = [rank_documents(index, embedder.embed_query(q.question), 3) for q in questions]
    scores = score_rankings(rankings, questions, ks=(1, 3), kinds={d.doc_id: d.kind for d in docs})
    assert scores.recall == {1: 1.0, 3: 1.0}
    assert scores.counts == {"product": 4, "wiki": 4} and scores.n == 8


def test_rank_documents_looks_past_a_document_with_many_matching_chunks(embedder):
    docs = corpus()
    chunks = [c for d in docs for c in chunk_whole(d)]
    # ten chunks of one document all match the query better than any other document
    chunks += [Chunk(f"loud#{i}", "loud", 1, "public", i, (), "refund window policy refund") for i in range(10)]
    index = VectorIndex.build(chunks, embedder)
    ranked = rank_documents(index, embedder.embed_query("refund window policy"), 2)
    assert ranked == ["loud", "d0"]


def test_recall_counts_only_gold_documents_and_rejects_mismatched_lengths():
    questions = [SimpleNamespace(gold_doc_ids=("a",)), SimpleNamespace(gold_doc_ids=("z",))]
    scores = score_rankings([["b", "a"], ["a", "b"]], questions, ks=(1, 2))
    assert scores.recall == {1: 0.0, 2: 0.5}
    with pytest.raises(LabkitError, match="2 questions"):
        score_rankings([["a"]], questions)


def test_doc_ids_dedupes_hits_and_chunk_ids_in_order(embedder):
    docs = corpus()
    index = VectorIndex.build([c for d in docs for c in chunk_whole(d)], embedder)
    hits = index.search("refund window policy", k=3)
    assert doc_ids(hits) == [h.chunk.doc_id for h in hits]
    assert doc_ids(["b#1", "a#0", "b#0", "c#3#x"]) == ["b", "a", "c#3"]


def test_sample_questions_is_seeded_and_skips_questions_without_gold():
    records = [SimpleNamespace(question=f"q{i}", gold_doc_ids=(("d",) if i % 3 else ())) for i in range(30)]
    first = sample_questions(records, 5, random.Random(1))
    assert [q.question for q in first] == [q.question for q in sample_questions(records, 5, random.Random(1))]
    assert len(first) == 5 and all(q.gold_doc_ids for q in first)
    assert len(sample_questions(records, 500, random.Random(0))) == 20


# -- the chunk-size sweep -----------------------------------------------------------


def test_sweep_returns_one_point_per_size_in_order_and_smaller_chunks_are_more(embedder):
    docs = corpus(n_words=80)
    sizes = [8, 16, 64]
    points = chunk_size_sweep(docs, title_questions(docs), embedder, sizes, SweepConfig(ks=(1, 5)), tokenizer=str.split)
    assert [p.max_tokens for p in points] == sizes
    counts = [p.chunks for p in points]
    assert counts[0] > counts[1] > counts[2] >= len(docs)
    for p in points:
        assert len(p.chunk_list) == p.chunks and p.vectors.shape == (p.chunks, embedder.dimension)
        assert all(0.0 <= r <= 1.0 for r in p.scores.recall.values())
        assert p.scores.recall[1] <= p.scores.recall[5]


def test_sweep_window_overlap_follows_the_share(embedder):
    docs = corpus(n_words=40)[:1]
    question = title_questions(docs)
    no_overlap = chunk_size_sweep(docs, question, embedder, [10], SweepConfig(overlap_share=0.0), tokenizer=str.split)
    half = chunk_size_sweep(docs, question, embedder, [10], SweepConfig(overlap_share=0.5), tokenizer=str.split)
    assert no_overlap[0].chunks == 4 and half[0].chunks == 7  # 40 words: steps of 10, then of 5


def test_sweep_needs_sizes(embedder):
    with pytest.raises(LabkitError, match="no chunk sizes"):
        chunk_size_sweep(corpus(), [], embedder, [], tokenizer=str.split)


# -- exact against approximate --------------------------------------------------------


@pytest.fixture(scope="module")
def tradeoff():
    x, q = clustered_vectors(3000, np.random.default_rng(0), dimension=32, queries=40)
    lists = 3000 // 39  # IndexConfig's cap: 76 clusters
    return search_tradeoff(x, q, TradeoffConfig(ef_search=(4, 256), nprobe=(1, lists))), lists


def test_flat_is_exact_and_approximate_recall_is_at_most_flat(tradeoff):
    curve, _ = tradeoff
    flat = [p for p in curve if p.kind == "flat"]
    assert len(flat) == 1 and flat[0].recall == 1.0
    assert all(p.recall <= 1.0 for p in curve)
    assert [p.setting for p in curve] == ["exact", "efSearch=4", "efSearch=256", "nprobe=1 of 76", "nprobe=76 of 76"]


def test_more_search_effort_buys_recall(tradeoff):
    curve, lists = tradeoff
    hnsw = {p.value: p.recall for p in curve if p.kind == "hnsw"}
    ivf = {p.value: p.recall for p in curve if p.kind == "ivf"}
    assert hnsw[4] < hnsw[256] and hnsw[256] >= 0.95
    assert ivf[1] < 0.9 and ivf[lists] == pytest.approx(1.0)  # every cluster searched: exact


def test_tradeoff_recall_is_the_same_on_a_second_run():
    x, q = clustered_vectors(1500, np.random.default_rng(3), dimension=16, queries=30)
    config = TradeoffConfig(ef_search=(8,), nprobe=(2,))
    first = [p.recall for p in search_tradeoff(x, q, config)]
    assert first == [p.recall for p in search_tradeoff(x, q, config)]


def test_clustered_vectors_are_unit_seeded_and_clustered():
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    x, q = clustered_vectors(500, rng_a, dimension=24, queries=10)
    assert x.shape == (500, 24) and q.shape == (10, 24) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(x, clustered_vectors(500, rng_b, dimension=24, queries=10)[0])
    assert not np.array_equal(x, clustered_vectors(500, np.random.default_rng(8), dimension=24))
    # clustered: nearest neighbours are far closer than random pairs
    sims = x @ x.T
    np.fill_diagonal(sims, -1)
    random_pairs = (x[:250] * x[250:]).sum(axis=1)
    assert sims.max(axis=1).mean() > random_pairs.mean() + 0.3


# -- 2-D maps ---------------------------------------------------------------------


def test_pca_finds_the_direction_of_largest_spread_with_a_stable_sign():
    rng = np.random.default_rng(0)
    x = np.zeros((200, 5))
    x[:, 3] = rng.normal(0, 10, 200)
    x[:, 1] = rng.normal(0, 1, 200)
    p = pca_2d(x)
    assert abs(p.axes[0, 3]) > 0.99 and abs(p.axes[1, 1]) > 0.99
    assert p.explained[0] > 0.9 and sum(p.explained) <= 1.0 + 1e-9
    assert p.axes[0, 3] > 0 and np.allclose(pca_2d(-x).axes, p.axes)  # same picture whatever the sign of the data
    assert p(x).shape == (200, 2)
    with pytest.raises(LabkitError):
        pca_2d(x[:1])


def test_same_label_neighbours_separates_clusters_from_noise():
    rng = np.random.default_rng(0)
    a = rng.normal([5, 0, 0], 0.1, (20, 3))
    b = rng.normal([0, 5, 0], 0.1, (20, 3))
    v = np.vstack([a, b])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert same_label_neighbours(v, ["a"] * 20 + ["b"] * 20) == 1.0
    assert same_label_neighbours(v, ["a", "b"] * 20) < 0.8


# -- the exercise checkers of labs 02 and 03 ----------------------------------------


def test_window_checker_passes_a_right_answer_and_fails_one_with_a_trailing_window(capsys):
    def right(tokens, max_tokens, overlap):
        windows, start = [], 0
        while start < len(tokens):
            windows.append(tokens[start:start + max_tokens])
            if start + max_tokens >= len(tokens):
                break
            start += max_tokens - overlap
        return windows

    def trailing(tokens, max_tokens, overlap):
        return [tokens[s:s + max_tokens] for s in range(0, len(tokens), max_tokens - overlap)]

    assert checks.check_window_chunks(right) is True
    assert checks.check_window_chunks(trailing) is False
    assert "FAIL: window_chunks" in capsys.readouterr().out


def test_rrf_checker_passes_a_right_answer_and_fails_ranks_from_zero():
    def fuse(rankings, rrf_k=60, start=1):
        scores = {}
        for ranking in rankings:
            for rank, cid in enumerate(ranking, start=start):
                scores[cid] = scores.get(cid, 0.0) + 1 / (rrf_k + rank)
        return sorted(scores.items(), key=lambda item: -item[1])

    assert checks.check_rrf(fuse) is True
    assert checks.check_rrf(lambda r, rrf_k=60: fuse(r, rrf_k, start=0)) is False
    assert checks.check_rrf(lambda r, rrf_k=60: list(reversed(fuse(r, rrf_k)))) is False


def test_checkers_reraise_an_unfinished_stub():
    def stub(*args):
        raise NotImplementedError("Exercise: write it")

    for checker in (checks.check_window_chunks, checks.check_rrf):
        with pytest.raises(NotImplementedError):
            checker(stub)
