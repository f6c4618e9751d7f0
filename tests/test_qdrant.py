"""labkit.retrieval.qdrant: the same answers as the FAISS index, the same access rules, updates that persist.

The course tests build the course index once (labkit.ladder.rag.build_index: the corpus chunked as every rung
and lab chunks it, embedded by the embedded MiniLM, vectors from the labkit cache) and copy its chunks into
Qdrant's local mode on disk; nothing here reaches the network.
"""

import random

import numpy as np
import pytest

from labkit.course.corpus import course_corpus
from labkit.errors import LabkitError
from labkit.retrieval.chunk import Chunk
from labkit.retrieval.embed import HashingEmbedder
from labkit.retrieval.index import VectorIndex
from labkit.retrieval.qdrant import QdrantConfig, QdrantIndex, open_index, parse_spec
from labkit.retrieval.sweep import rank_documents, score_rankings

POLICY = {"customer": {"public"}, "agent": {"public", "staff"}, "finance": {"public", "finance"},
          "admin": {"public", "staff", "finance", "security"}, "nobody": set()}
LABELS = ["public", "staff", "finance", "security"]
WORDS = "refund invoice router firmware warehouse salary password badge ticket price stock".split()
EMBEDDER = HashingEmbedder(dimension=32)


def chunk(doc_id, text, access="public", version=1, position=0):
    return Chunk(f"{doc_id}#{position}", doc_id, version, access, position, (), text)


def small_corpus(n=40, seed=0):
    """``n`` one-chunk documents of random words, the labels in turn (a seeded draw)."""
    rng = np.random.default_rng(seed)
    return [chunk(f"d{i}", " ".join(rng.choice(WORDS, 4)), LABELS[i % 4]) for i in range(n)]


@pytest.fixture
def local(tmp_path):
    """Qdrant's local mode in a fresh folder."""
    return QdrantConfig(path=str(tmp_path / "qdrant"))


# -- the course corpus: the same answers as FAISS flat, and no leak at any k -------------------------------------


PARITY_QUESTIONS = 200  # a seeded sample of the 1,077 fact questions: local mode filters in Python, ~30 ms a query
LEAK_CHUNKS = 240  # every k from 1 to the size of the index, for every role: a seeded sample of the course chunks


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    from labkit.ladder.rag import build_index

    corpus = course_corpus()
    faiss = build_index(corpus, "v1")
    qdrant = QdrantIndex.build(faiss.all_chunks(), faiss.embedder,
                               QdrantConfig(path=str(tmp_path_factory.mktemp("course") / "qdrant")),
                               access_policy=corpus.roles)
    yield corpus, faiss, qdrant
    qdrant.close()


def test_recall_at_10_equals_faiss_flat_on_the_course_questions(course):
    """A seeded sample of the course fact questions, asked by the admin (reads everything) and by a customer (the
    filter inside the search): Qdrant ranks the same ten documents as FAISS flat, so recall@10 is the same. Both
    search exactly over the same vectors; only a near-tie at the tenth place may order differently (float
    rounding): at most 1% of the lists, and recall@10 within 0.005."""
    corpus, faiss, qdrant = course
    questions = random.Random(0).sample([q for q in corpus.questions("facts") if q.gold_doc_ids], PARITY_QUESTIONS)
    vectors = faiss.embedder.embed([q.question for q in questions])
    assert len(qdrant) == len(faiss) > 500 and qdrant.all_chunks() == faiss.all_chunks()
    for role in ("admin", "customer"):
        by_faiss = [rank_documents(faiss, v, 10, role) for v in vectors]
        by_qdrant = [rank_documents(qdrant, v, 10, role) for v in vectors]
        same = sum(a == b for a, b in zip(by_faiss, by_qdrant))
        assert same >= 0.99 * len(questions), f"{role}: only {same} of {len(questions)} top-10 lists agree"
        recall = [score_rankings(r, questions, ks=(10,)).recall[10] for r in (by_faiss, by_qdrant)]
        assert abs(recall[0] - recall[1]) <= 0.005, f"{role}: recall@10 FAISS {recall[0]:.4f}, Qdrant {recall[1]:.4f}"
    assert recall[0] > 0.3  # the customer reads public pages only: a real, non-trivial ranking was compared


def test_no_course_role_ever_gets_a_restricted_source_it_is_denied(course):
    """The whole course index: every restricted question, asked by every role it denies, never retrieves its
    source; and k = the size of the index gives each role exactly the chunks it may read."""
    corpus, faiss, qdrant = course
    restricted = corpus.questions("restricted")
    vectors = faiss.embedder.embed([q.question for q in restricted])
    for question, vector in zip(restricted, vectors):
        for role in question.extra["denied_roles"]:
            hits = qdrant.search_vector(vector, k=50, role=role)
            assert len(hits) == 50 and not set(question.gold_doc_ids) & {h.chunk.doc_id for h in hits}
    for role, allowed in corpus.roles.items():
        readable = {c.chunk_id for c in faiss.all_chunks() if c.access in allowed}
        assert {h.chunk.chunk_id for h in qdrant.search_vector(vectors[0], k=len(qdrant), role=role)} == readable


def test_no_course_role_ever_gets_a_chunk_it_may_not_read_at_any_k(course):
    """A seeded sample of the course chunks (every restricted question's source among them), every role of the
    course, every k from 1 to the size of the index: only readable chunks, exactly min(k, readable) of them,
    none twice, best first, and never the source of a restricted question the role is denied."""
    corpus, faiss, _ = course
    restricted = corpus.questions("restricted")
    sources = {doc for q in restricted for doc in q.gold_doc_ids}
    chunks = faiss.all_chunks()
    must = [c for c in chunks if c.doc_id in sources]
    sample = must + random.Random(0).sample([c for c in chunks if c.doc_id not in sources], LEAK_CHUNKS - len(must))
    qdrant = QdrantIndex.build(sample, faiss.embedder, access_policy=corpus.roles)  # in memory
    vectors = faiss.embedder.embed([q.question for q in restricted])
    for role, allowed in corpus.roles.items():
        readable = sum(c.access in allowed for c in sample)
        assert 0 < readable <= len(qdrant) == LEAK_CHUNKS
        for k in range(1, len(qdrant) + 1):
            question, vector = restricted[k % len(restricted)], vectors[k % len(restricted)]
            hits = qdrant.search_vector(vector, k=k, role=role)
            assert len(hits) == min(k, readable), (role, k)
            assert all(h.chunk.access in allowed for h in hits), (role, k)
            assert len({h.chunk.chunk_id for h in hits}) == len(hits)
            assert all(a.score >= b.score - 1e-6 for a, b in zip(hits, hits[1:]))
            if role in question.extra["denied_roles"]:
                assert not set(question.gold_doc_ids) & {h.chunk.doc_id for h in hits}, (question.id, role, k)


# -- the FAISS index's rules, on small corpora -------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_the_same_hits_as_faiss_for_every_role_and_k_after_updates(seed):
    rng = np.random.default_rng(seed)
    chunks = small_corpus(30, seed)
    faiss = VectorIndex.build(chunks, EMBEDDER, access_policy=POLICY)
    qdrant = QdrantIndex.build(chunks, EMBEDDER, access_policy=POLICY)  # in memory
    for i in rng.choice(30, 4, replace=False):
        for index in (faiss, qdrant):
            index.delete_document(f"d{i}")
    moved = chunk("d7", "salary badge", LABELS[int(rng.integers(4))], version=2)
    for index in (faiss, qdrant):
        index.upsert([moved])
    query = " ".join(rng.choice(WORDS, 2))
    for role in POLICY:
        for k in (1, 3, 10, 40):
            want, got = faiss.search(query, k, role), qdrant.search(query, k, role)
            assert [round(h.score, 5) for h in got] == [round(h.score, 5) for h in want], (role, k)
            assert {h.chunk for h in got} <= set(faiss.all_chunks())
    assert len(qdrant) == len(faiss) and sorted(qdrant.all_chunks(), key=str) == sorted(faiss.all_chunks(), key=str)


def test_filter_is_inside_the_search_not_after_it():
    # 50 public chunks match far better than the one staff chunk: "top k, then filter" would find nothing
    chunks = [chunk(f"p{i}", "refund refund refund") for i in range(50)] + [chunk("s", "router", "staff")]
    index = QdrantIndex.build(chunks, EMBEDDER, access_policy={"staffonly": {"staff"}})
    assert [h.chunk.doc_id for h in index.search("refund", k=3, role="staffonly")] == ["s"]


def test_k_larger_than_the_readable_set_returns_all_of_it_best_first(local):
    with QdrantIndex.build(small_corpus(), EMBEDDER, local, access_policy=POLICY) as index:
        hits = index.search("refund", k=1000, role="customer")
        assert len(hits) == 10 and {h.chunk.access for h in hits} == {"public"}
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_unknown_roles_fail_closed_and_roles_that_read_nothing_get_nothing(local):
    with QdrantIndex.build(small_corpus(), EMBEDDER, local, access_policy=POLICY) as index:
        assert index.search("refund", k=5, role="nobody") == []
        with pytest.raises(LabkitError, match="unknown role 'intern'"):
            index.search("refund", role="intern")
        with pytest.raises(LabkitError, match="needs a role"):
            index.search("refund")
        with pytest.raises(LabkitError, match="k=0"):
            index.search("refund", k=0, role="admin")
    no_finance_docs = QdrantIndex.build([chunk("a", "refund")], EMBEDDER, access_policy={"auditor": {"finance"}})
    assert no_finance_docs.search("refund", 3, role="auditor") == []
    open_to_all = QdrantIndex.build(small_corpus(), EMBEDDER)
    assert len(open_to_all.search("refund", k=100)) == 40
    with pytest.raises(LabkitError, match="no access policy"):
        open_to_all.search("refund", role="customer")


def test_an_empty_index_and_duplicate_chunk_ids():
    empty = QdrantIndex.build([], EMBEDDER, access_policy=POLICY)
    assert empty.search("anything", 5, role="admin") == [] and len(empty) == 0 and empty.all_chunks() == []
    with pytest.raises(LabkitError, match="two chunks have the id 'a#0'"):
        QdrantIndex.build([chunk("a", "one"), chunk("a", "two")], EMBEDDER)


# -- updates by document, kept on disk ----------------------------------------------------------------------------


def test_upsert_and_delete_work_by_document_and_persist_after_reopening(local):
    index = QdrantIndex.build(small_corpus(), EMBEDDER, local, access_policy=POLICY)
    others = [c for c in index.all_chunks() if c.doc_id != "d0"]
    index.upsert([chunk("d0", "brand new warranty terms", "finance", 2, 0), chunk("d0", "and more", "finance", 2, 1)])
    index.upsert([chunk("new", "fresh page")])
    assert index.delete_document("d5") == 1 and index.delete_document("d5") == 0
    assert index.delete_document("never-there") == 0
    index.close()

    again = QdrantIndex.open(local, EMBEDDER)
    assert len(again) == 40 + 1 + 1 - 1
    d0 = [c for c in again.all_chunks() if c.doc_id == "d0"]
    assert [(c.chunk_id, c.doc_version, c.access) for c in d0] == [("d0#0", 2, "finance"), ("d0#1", 2, "finance")]
    assert [c for c in again.all_chunks() if c.doc_id not in ("d0", "new")] == [c for c in others if c.doc_id != "d5"]
    assert again.all_chunks()[-1].doc_id == "new"  # the order chunks were added in survives the reopening
    assert again.search("brand new warranty terms", 5, role="customer")[0].chunk.doc_id != "d0"  # now finance only
    assert again.search("brand new warranty terms", 1, role="finance")[0].chunk.chunk_id == "d0#0"
    again.upsert([chunk("d0", "short again", "public", 3, 0)])  # one chunk now: the old second one goes
    again.upsert([chunk("later", "added after reopening")])
    assert [c.chunk_id for c in again.all_chunks() if c.doc_id == "d0"] == ["d0#0"]
    assert again.all_chunks()[-1].doc_id == "later"
    again.close()
    assert len(QdrantIndex.open(local, EMBEDDER)) == 41


def test_a_failed_embedding_leaves_the_old_version_searchable():
    class Broken(HashingEmbedder):
        def embed(self, texts):
            raise RuntimeError("out of memory")

    index = QdrantIndex.build([chunk("a", "refund window")], Broken(32), vectors=EMBEDDER.embed(["refund window"]))
    with pytest.raises(RuntimeError):
        index.upsert([chunk("a", "new text", version=2)])
    assert [c.doc_version for c in index.all_chunks()] == [1]


def test_the_stored_policy_comes_back_unless_another_is_given(local):
    QdrantIndex.build(small_corpus(), EMBEDDER, local, access_policy=POLICY).close()
    with QdrantIndex.open(local, EMBEDDER) as index:
        assert len(index.search("refund", 100, role="customer")) == 10
    with QdrantIndex.open(local, EMBEDDER, access_policy={"customer": set()}) as index:
        assert index.search("refund", 100, role="customer") == []


# -- refusing what does not fit -----------------------------------------------------------------------------------


def test_reopening_with_another_embedder_is_refused(local):
    QdrantIndex.build(small_corpus(), EMBEDDER, local).close()
    with pytest.raises(LabkitError, match="built with hashing-32") as err:
        QdrantIndex.open(local, HashingEmbedder(dimension=64))
    assert "rebuild" in err.value.fix
    with QdrantIndex.open(local, EMBEDDER) as index:  # the refusal let go of the folder
        with pytest.raises(LabkitError, match="64 dimensions"):
            index.search_vector(HashingEmbedder(64).embed_query("refund"), 3)
        with pytest.raises(LabkitError, match="shape"):
            index.upsert([chunk("x", "y")], vectors=np.zeros((1, 64), np.float32))


def test_one_folder_is_one_open_index_and_a_missing_one_needs_an_embedder(local, tmp_path):
    with QdrantIndex.build(small_corpus(4), EMBEDDER, local):
        with pytest.raises(LabkitError, match="open in another index"):
            QdrantIndex.open(local, EMBEDDER)
    with pytest.raises(LabkitError, match="no collection"):
        QdrantIndex.open(QdrantConfig(path=str(tmp_path / "empty")))


def test_a_collection_labkit_did_not_make_is_refused(local):
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=local.path)
    client.create_collection("labkit", vectors_config=models.VectorParams(size=32, distance=models.Distance.DOT))
    client.close()
    with pytest.raises(LabkitError, match="not made by labkit"):
        QdrantIndex.open(local, EMBEDDER)
    with pytest.raises(LabkitError, match="not made by labkit"):
        QdrantIndex.build(small_corpus(4), EMBEDDER, local)  # and nothing overwrites it
    client = QdrantClient(path=local.path)
    assert client.collection_exists("labkit") and client.count("labkit").count == 0
    client.close()


@pytest.mark.parametrize("kwargs, problem", [
    ({"path": "a", "url": "http://h:6333"}, "both path"), ({"distance": "euclid"}, "unknown Qdrant distance"),
    ({"collection": ""}, "collection name is empty"), ({"batch_size": 0}, "batch_size=0")])
def test_a_bad_config_names_the_problem(kwargs, problem):
    with pytest.raises(LabkitError, match=problem):
        QdrantConfig(**kwargs)


# -- index specs ---------------------------------------------------------------------------------------------------


def test_open_index_reads_each_form_of_spec(tmp_path):
    assert parse_spec("faiss") is None
    assert parse_spec(f"qdrant:{tmp_path}/q") == QdrantConfig(path=f"{tmp_path}/q")
    assert parse_spec("qdrant+http://db.internal:6333/", collection="course").url == "http://db.internal:6333"
    assert parse_spec("qdrant+https://db.internal").collection == "labkit"
    faiss = open_index("faiss", EMBEDDER, POLICY)
    faiss.upsert(small_corpus())
    qdrant = open_index(f"qdrant:{tmp_path}/q", EMBEDDER, POLICY)
    qdrant.upsert(small_corpus())
    assert ([h.chunk.chunk_id for h in qdrant.search("refund", 5, "agent")]
            == [h.chunk.chunk_id for h in faiss.search("refund", 5, "agent")])
    qdrant.close()
    with open_index(f"qdrant:{tmp_path}/q", EMBEDDER) as reopened:  # the stored policy comes back
        assert len(reopened) == 40 and len(reopened.search("refund", 100, "customer")) == 10


@pytest.mark.parametrize("spec, problem", [
    ("", "it is empty"), ("  ", "it is empty"), ("pinecone", "unknown kind of index"),
    ("FAISS:x", "unknown kind of index"), ("qdrant", "unknown kind of index"), ("qdrant:", "no folder"),
    ("qdrant://localhost:6333", "needs 'qdrant\\+http://'"), ("qdrant+ftp://host:21", "over http or https"),
    ("qdrant+localhost:6333", "over http or https"), ("qdrant+http://", "no host"),
    ("qdrant+http://host:port", "port is not a number"), ("qdrant+http://host:99999", "port is not a number"),
    ("qdrant+http://host:6333/collections/x", "more than a host")])
def test_a_malformed_spec_names_the_problem_and_the_forms(spec, problem):
    with pytest.raises(LabkitError, match=problem) as err:
        open_index(spec, EMBEDDER)
    assert "qdrant:PATH" in err.value.fix and "qdrant+http://HOST:PORT" in err.value.fix


def test_a_server_that_does_not_answer_is_a_clear_error():
    with pytest.raises(LabkitError, match="cannot reach a Qdrant server at http://127.0.0.1:9") as err:
        open_index("qdrant+http://127.0.0.1:9", EMBEDDER)  # the discard port: nothing listens there
    assert "docker run" in err.value.fix


def test_a_hybrid_retriever_fuses_qdrant_with_bm25():
    """The hybrid retriever takes a Qdrant index where it takes a FAISS one (upsert reaches both halves)."""
    from labkit.retrieval.lexical import BM25Index, HybridRetriever

    chunks = small_corpus()
    hybrid = HybridRetriever(QdrantIndex.build(chunks, EMBEDDER, access_policy=POLICY),
                             BM25Index.build(chunks, access_policy=POLICY))
    hybrid.upsert([chunk("d1", "router firmware badge", "public", version=2)])
    for role in ("customer", "admin"):
        hits = hybrid.search("router firmware badge", 8, role=role)
        assert len(hits) == 8 and all(h.chunk.access in POLICY[role] for h in hits)
        assert hits[0].chunk.chunk_id == "d1#0" and hits[0].chunk.doc_version == 2
