"""labkit.retrieval.index: access control inside the search, updates, and saving that detects damage."""

import os
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.retrieval.chunk import chunk_whole
from labkit.retrieval.embed import HashingEmbedder
from labkit.errors import LabkitError
from labkit.retrieval.index import AccessPolicy, IndexConfig, VectorIndex

POLICY = {"customer": {"public"}, "agent": {"public", "staff"}, "finance": {"public", "finance"},
          "admin": {"public", "staff", "finance", "security"}, "nobody": set()}
LABELS = ["public", "staff", "finance", "security"]
WORDS = "refund invoice router firmware warehouse salary password badge ticket price stock".split()
KINDS = [IndexConfig("flat"), IndexConfig("hnsw", hnsw_neighbors=8), IndexConfig("ivf", ivf_probes=1)]


def doc(doc_id, text, access="public", version=1):
    return SimpleNamespace(doc_id=doc_id, text=text, access=access, doc_version=version)


def chunks_of(docs):
    return [c for d in docs for c in chunk_whole(d)]


def corpus(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return [doc(f"d{i}", " ".join(rng.choice(WORDS, 4)), LABELS[i % 4]) for i in range(n)]


@pytest.fixture
def embedder():
    return HashingEmbedder(dimension=32)


# -- access control -------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels=st.lists(st.sampled_from(LABELS), min_size=1, max_size=45),
       deleted=st.sets(st.integers(0, 44), max_size=10),
       role=st.sampled_from(sorted(POLICY)), k=st.integers(1, 50),
       query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
       kind=st.sampled_from(KINDS), seed=st.integers(0, 1000))
def test_no_role_ever_sees_a_forbidden_chunk_and_k_is_filled(labels, deleted, role, k, query, kind, seed):
    rng = np.random.default_rng(seed)
    docs = [doc(f"d{i}", " ".join(rng.choice(WORDS, 3)), label) for i, label in enumerate(labels)]
    index = VectorIndex.build(chunks_of(docs), HashingEmbedder(16), kind, access_policy=POLICY)
    for i in deleted:
        index.delete_document(f"d{i}")
    hits = index.search(query, k=k, role=role)
    readable = [d for i, d in enumerate(docs) if d.access in POLICY[role] and i not in deleted]
    assert all(h.chunk.access in POLICY[role] for h in hits)
    assert len(hits) == min(k, len(readable))
    assert len({h.chunk.chunk_id for h in hits}) == len(hits)
    assert all(a.score >= b.score - 1e-6 for a, b in zip(hits, hits[1:]))


def test_filter_is_inside_the_search_not_after_it(embedder):
    # 50 public chunks match the query far better than the one staff chunk: a "top-k then
    # filter" search would return nothing for the agent-only chunk set.
    docs = [doc(f"p{i}", "refund refund refund", "public") for i in range(50)] + [doc("s", "router", "staff")]
    index = VectorIndex.build(chunks_of(docs), embedder, access_policy={"staffonly": {"staff"}})
    assert [h.chunk.doc_id for h in index.search("refund", k=3, role="staffonly")] == ["s"]


def test_approximate_index_is_filled_exactly_when_the_filter_is_narrow():
    docs = [doc(f"d{i}", f"common words here {i}", "public") for i in range(400)]
    docs += [doc(f"s{i}", f"rare secret {i}", "security") for i in range(3)]
    index = VectorIndex.build(chunks_of(docs), HashingEmbedder(16), IndexConfig("hnsw", hnsw_neighbors=4,
                                                                                hnsw_ef_search=4),
                              access_policy={"sec": {"security"}})
    assert sorted(h.chunk.doc_id for h in index.search("common words", k=10, role="sec")) == ["s0", "s1", "s2"]


def test_k_larger_than_the_readable_set_returns_all_of_it_best_first(embedder):
    index = VectorIndex.build(chunks_of(corpus()), embedder, access_policy=POLICY)
    hits = index.search("refund", k=1000, role="customer")
    assert len(hits) == 10 and {h.chunk.access for h in hits} == {"public"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_roles_that_read_nothing_get_an_empty_list_and_unknown_roles_an_error(embedder):
    index = VectorIndex.build(chunks_of(corpus()), embedder, access_policy=POLICY)
    assert index.search("refund", k=5, role="nobody") == []
    only_public = VectorIndex.build(chunks_of([doc("a", "refund", "public")]), embedder, access_policy=POLICY)
    assert only_public.search("refund", k=5, role="finance")[0].chunk.doc_id == "a"
    no_finance_docs = {"auditor": {"finance"}}
    assert VectorIndex.build(chunks_of(corpus(4)[:1]), embedder,
                             access_policy=no_finance_docs).search("x", 3, role="auditor") == []
    with pytest.raises(LabkitError, match="unknown role 'intern'"):
        index.search("refund", role="intern")
    with pytest.raises(LabkitError, match="needs a role"):
        index.search("refund")
    open_index = VectorIndex.build(chunks_of(corpus()), embedder)
    assert len(open_index.search("refund", k=100)) == 40
    with pytest.raises(LabkitError, match="no access policy"):
        open_index.search("refund", role="customer")


def test_k_below_one_and_empty_index(embedder):
    index = VectorIndex.build([], embedder, access_policy=POLICY)
    assert index.search("anything", 5, role="admin") == [] and len(index) == 0
    with pytest.raises(LabkitError, match="k=0"):
        index.search("anything", 0, role="admin")


# -- building and updating ------------------------------------------------------


def test_duplicate_ids_are_refused(embedder):
    with pytest.raises(LabkitError, match="two chunks have the id 'a#0'"):
        VectorIndex.build(chunks_of([doc("a", "one"), doc("a", "two")]), embedder)
    index = VectorIndex.build(chunks_of([doc("a", "one")]), embedder)
    with pytest.raises(LabkitError, match="upsert"):
        index._add(chunks_of([doc("a", "again")]), None)


@pytest.mark.parametrize("config", KINDS, ids=lambda c: c.kind)
def test_upsert_replaces_one_document_and_leaves_the_rest(config, embedder):
    index = VectorIndex.build(chunks_of(corpus()), embedder, config, access_policy=POLICY)
    others_before = {d: ids for d, ids in index.ids_by_doc.items() if d != "d0"}
    index.upsert(chunks_of([doc("d0", "brand new warranty terms", "public", version=2)]))
    hits = index.search("brand new warranty terms", k=1, role="customer")
    assert hits[0].chunk.doc_id == "d0" and hits[0].chunk.doc_version == 2
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert {d: ids for d, ids in index.ids_by_doc.items() if d != "d0"} == others_before
    assert len(index) == 40 and all(c.doc_version == 2 for c in index.chunks.values() if c.doc_id == "d0")
    index.upsert(chunks_of([doc("new", "fresh", "public")]))
    assert len(index) == 41
    assert index.delete_document("new") == 1 and index.delete_document("new") == 0 and len(index) == 40


def test_upsert_can_change_a_documents_access_label(embedder):
    index = VectorIndex.build(chunks_of([doc("memo", "salary review", "public")]), embedder, access_policy=POLICY)
    assert index.search("salary", 5, role="customer")
    index.upsert(chunks_of([doc("memo", "salary review", "finance", version=2)]))
    assert index.search("salary", 5, role="customer") == []
    assert index.search("salary", 5, role="finance")[0].chunk.access == "finance"


def test_hnsw_keeps_tombstones_then_rebuilds(embedder):
    index = VectorIndex.build(chunks_of(corpus()), embedder, IndexConfig("hnsw", rebuild_after=0.25))
    for i in range(5):
        index.delete_document(f"d{i}")
    assert index.faiss.ntotal == 40 and len(index) == 35  # tombstones: still in FAISS ...
    assert all(h.chunk.doc_id not in {f"d{i}" for i in range(5)} for h in index.search("refund", 40))
    for i in range(5, 10):
        index.delete_document(f"d{i}")
    assert index.faiss.ntotal == 30 == len(index)  # ... until a quarter of the graph was dead
    assert len(index.search("refund", 100)) == 30


# -- saving and loading ---------------------------------------------------------


@pytest.mark.parametrize("config", KINDS, ids=lambda c: c.kind)
def test_save_and_load_give_the_same_answers(config, embedder, tmp_path):
    index = VectorIndex.build(chunks_of(corpus()), embedder, config, access_policy=POLICY)
    index.delete_document("d3")
    folder = index.save(tmp_path / "idx")
    loaded = VectorIndex.load(folder, embedder)
    for role in ("customer", "admin"):
        before = [(h.chunk, round(h.score, 5)) for h in index.search("refund router", 8, role=role)]
        after = [(h.chunk, round(h.score, 5)) for h in loaded.search("refund router", 8, role=role)]
        assert before == after
    loaded.upsert(chunks_of([doc("d3", "back again", "public")]))
    assert loaded.search("back again", 1, role="customer")[0].chunk.doc_id == "d3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx"]  # no temporary folders left


def test_save_replaces_an_existing_index_and_refuses_other_folders(embedder, tmp_path):
    VectorIndex.build(chunks_of(corpus(4)), embedder).save(tmp_path / "idx")
    VectorIndex.build(chunks_of(corpus(6)), embedder).save(tmp_path / "idx")
    assert len(VectorIndex.load(tmp_path / "idx", embedder)) == 6
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(LabkitError, match="not a labkit index"):
        VectorIndex.build(chunks_of(corpus(4)), embedder).save(tmp_path / "notes")


@pytest.mark.parametrize("name", ["vectors.faiss", "chunks.jsonl", "index.json"])
def test_a_flipped_byte_is_detected_and_named(name, embedder, tmp_path):
    folder = VectorIndex.build(chunks_of(corpus()), embedder, access_policy=POLICY).save(tmp_path / "idx")
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(LabkitError, match=f"damaged: {name}"):
        VectorIndex.load(folder, embedder)


@pytest.mark.parametrize("name", ["vectors.faiss", "chunks.jsonl", "index.json", "SHA256SUMS"])
def test_a_half_written_index_is_detected_and_named(name, embedder, tmp_path):
    folder = VectorIndex.build(chunks_of(corpus()), embedder).save(tmp_path / "idx")
    os.remove(folder / name)
    with pytest.raises(LabkitError, match=f"incomplete: {name} is missing"):
        VectorIndex.load(folder, embedder)
    with pytest.raises(LabkitError, match="no saved index"):
        VectorIndex.load(tmp_path / "nowhere", embedder)


def test_another_embedder_is_refused(embedder, tmp_path):
    folder = VectorIndex.build(chunks_of(corpus()), embedder).save(tmp_path / "idx")
    with pytest.raises(LabkitError, match="built with hashing-32") as err:
        VectorIndex.load(folder, HashingEmbedder(dimension=64))
    assert "rebuild" in err.value.fix
    index = VectorIndex.load(folder, embedder)
    with pytest.raises(LabkitError, match="64 dimensions"):
        index.search_vector(HashingEmbedder(64).embed_query("refund"), 3)
    with pytest.raises(LabkitError, match="shape"):
        VectorIndex.build(chunks_of(corpus(2)), embedder, vectors=np.zeros((2, 64), np.float32))


def test_saved_policy_is_used_unless_overridden(embedder, tmp_path):
    folder = VectorIndex.build(chunks_of(corpus()), embedder, access_policy=POLICY).save(tmp_path / "idx")
    assert len(VectorIndex.load(folder, embedder).search("refund", 100, role="customer")) == 10
    narrower = AccessPolicy({"customer": set()})
    assert VectorIndex.load(folder, embedder, access_policy=narrower).search("refund", 100, role="customer") == []
