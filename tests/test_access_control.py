"""Access control under change: no search ever returns a chunk its role may not read.

A stateful property test (hypothesis) drives the three retrievers the rungs read (a dense index of each
kind, BM25, and the hybrid of the two) through the same random story: documents added, re-labelled by an
upsert, deleted, the retrievers saved and loaded back, and searches by every role in between. After each
step every search is checked against a plain model of the corpus: only live documents, only their current
label, only labels the role may read, and as many results as the role may read (up to ``k``).
"""

import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from labkit.course.corpus import course_corpus
from labkit.errors import LabkitError
from labkit.ladder.rag import COURSE_CHUNKING
from labkit.retrieval.chunk import Chunk, chunk_documents
from labkit.retrieval.embed import HashingEmbedder
from labkit.retrieval.index import IndexConfig, VectorIndex
from labkit.retrieval.lexical import BM25Index, HybridConfig, HybridRetriever

POLICY = {"customer": ("public",), "agent": ("public", "staff"), "finance": ("public", "staff", "finance"),
          "nobody": ()}
LABELS = ("public", "staff", "finance", "security")
DOC_IDS = tuple(f"doc{i}" for i in range(6))
WORDS = ("refund", "window", "salary", "paid", "firmware", "stock", "warehouse", "ticket", "price", "policy")
EMBEDDER = HashingEmbedder(dimension=32)


def document_chunks(doc_id: str, label: str, words: list[str], version: int) -> list[Chunk]:
    """One or two chunks of one document, all with its label."""
    half = max(1, len(words) // 2)
    parts = [words[:half], words[half:]] if len(words) > 1 else [words]
    return [Chunk(f"{doc_id}#{i}", doc_id, version, label, i, (), " ".join(p)) for i, p in enumerate(parts) if p]


class AccessStory(RuleBasedStateMachine):
    """Random adds, re-labels, deletes and save/load round trips; every search checked after each step."""

    kind = "flat"

    @initialize(first=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6), label=st.sampled_from(LABELS))
    def start(self, first, label):
        self.docs: dict[str, tuple[str, int]] = {}  # doc_id -> (its label now, its chunks): what searches must match
        self.version = 0
        chunks = document_chunks(DOC_IDS[0], label, first, 0)
        self.docs[DOC_IDS[0]] = (label, len(chunks))
        self.dense = VectorIndex.build(chunks, EMBEDDER, IndexConfig(kind=self.kind, rebuild_after=0.5), POLICY)
        self.bm25 = BM25Index.build(chunks, access_policy=POLICY)
        hybrid_dense = VectorIndex.build(chunks, EMBEDDER, IndexConfig(kind=self.kind), POLICY)
        self.hybrid = HybridRetriever(hybrid_dense, BM25Index.build(chunks, access_policy=POLICY), HybridConfig(depth=10))

    def retrievers(self):
        return {"dense": self.dense, "bm25": self.bm25, "hybrid": self.hybrid}

    @rule(doc_id=st.sampled_from(DOC_IDS), label=st.sampled_from(LABELS),
          words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6))
    def upsert(self, doc_id, label, words):
        """Add a document, or replace one (often with another label: a page moved to finance, say)."""
        self.version += 1
        chunks = document_chunks(doc_id, label, words, self.version)
        for retriever in self.retrievers().values():
            retriever.upsert(chunks)
        self.docs[doc_id] = (label, len(chunks))

    @rule(doc_id=st.sampled_from(DOC_IDS))
    def delete(self, doc_id):
        for retriever in self.retrievers().values():
            retriever.delete_document(doc_id)
        self.docs.pop(doc_id, None)

    @rule()
    def save_and_load(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.dense = VectorIndex.load(self.dense.save(Path(tmp) / "dense"), EMBEDDER)
            self.bm25 = BM25Index.load(self.bm25.save(Path(tmp) / "bm25"))
            self.hybrid = HybridRetriever.load(self.hybrid.save(Path(tmp) / "hybrid"), EMBEDDER)

    @rule(query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3), k=st.integers(1, 8))
    def search_is_safe(self, query, k):
        self.check(" ".join(query), k)

    @invariant()
    def every_role_sees_only_what_it_may(self):
        self.check("refund salary firmware", 5)

    def check(self, query: str, k: int) -> None:
        for role, allowed in POLICY.items():
            readable = sum(n for label, n in self.docs.values() if label in allowed)
            for name, retriever in self.retrievers().items():
                hits = retriever.search(query, k=k, role=role)
                for hit in hits:
                    chunk = hit.chunk
                    assert chunk.access in allowed, f"{name} gave {role} a {chunk.access} chunk"
                    assert self.docs.get(chunk.doc_id, (None,))[0] == chunk.access, (
                        f"{name} returned {chunk.chunk_id} with a label it no longer has (or a deleted document)")
                assert len({h.chunk.chunk_id for h in hits}) == len(hits), f"{name} returned a chunk twice"
                assert len(hits) == min(k, readable), f"{name} gave {role} {len(hits)} hits, not min(k, readable)"
        with pytest.raises(LabkitError, match="unknown role"):
            self.bm25.search(query, k=k, role="intruder")  # a role the policy does not name fails closed


class HnswAccessStory(AccessStory):
    """The same story on an HNSW graph: a replaced or deleted chunk is a tombstone until the graph is rebuilt."""

    kind = "hnsw"


TestFlatAccess = AccessStory.TestCase
TestFlatAccess.settings = settings(max_examples=40, stateful_step_count=15, deadline=None)
TestHnswAccess = HnswAccessStory.TestCase
TestHnswAccess.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)


def test_a_hybrid_refuses_two_indexes_with_different_policies_or_chunks():
    chunks = document_chunks("doc0", "finance", ["salary", "paid"], 1)
    dense = VectorIndex.build(chunks, EMBEDDER, access_policy=POLICY)
    with pytest.raises(LabkitError, match="different access policies"):
        HybridRetriever(dense, BM25Index.build(chunks, access_policy={**POLICY, "customer": ("public", "finance")}))
    relabelled = [Chunk(c.chunk_id, c.doc_id, c.doc_version, "public", c.position, (), c.text) for c in chunks]
    with pytest.raises(LabkitError, match="different chunks"):
        HybridRetriever(dense, BM25Index.build(relabelled, access_policy=POLICY))


def test_the_real_course_retriever_never_leaks_a_restricted_chunk():
    """The rag and both rungs read BM25 and the hybrid: every restricted question, asked by every role that may
    not read its source, gets passages that role may read, and never the restricted document."""
    corpus = course_corpus()
    chunks = chunk_documents(corpus.documents("v1"), COURSE_CHUNKING, str.split, progress=False)
    dense = VectorIndex.build(chunks, EMBEDDER, access_policy=corpus.roles)
    hybrid = HybridRetriever(dense, BM25Index.build(chunks, access_policy=corpus.roles))
    for record in corpus.questions("restricted"):
        for role in record.extra["denied_roles"]:
            for retriever in (hybrid.lexical, hybrid):
                hits = retriever.search(record.question, k=5, role=role)
                assert hits and all(h.chunk.access in corpus.roles[role] for h in hits)
                assert not set(record.gold_doc_ids) & {h.chunk.doc_id for h in hits}
