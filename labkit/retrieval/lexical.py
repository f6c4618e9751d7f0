"""Keyword search (BM25) and hybrid search (reciprocal rank fusion).

- :class:`BM25Index` scores chunks by the words they share with the query (via
  ``bm25s``): lowercase, words of two or more letters or digits, Lucene's 33 English
  stopwords dropped, and Snowball stemming when PyStemmer is installed ("studies" and
  "study" both become "studi"). It follows the same role rules as
  :class:`labkit.retrieval.index.VectorIndex`: forbidden chunks are excluded before ranking,
  results are filled up to ``min(k, readable)`` (chunks sharing no word with the
  query score 0 and come last, in corpus order), a role that may read nothing gets
  ``[]``. ``bm25s`` cannot update in place, so :meth:`BM25Index.upsert` re-indexes
  (milliseconds for a course corpus); :meth:`BM25Index.save` keeps its chunks, settings and policy
  (checksummed, like a vector index) and :meth:`BM25Index.load` indexes them again.
- :func:`reciprocal_rank_fusion` merges ranked lists: each item scores
  ``sum(1 / (rrf_k + rank))`` over the lists it appears in (rank 1 = best).
  ``rrf_k = 60``, the value of Cormack et al. (2009), damps the head of each list
  so that one list's first place does not drown the other's. Scores' scales never
  matter, only ranks: that is why it can fuse cosine and BM25.
- :class:`HybridRetriever` fuses a dense and a BM25 search. Its two indexes must hold the same chunks
  under one access policy (it refuses a pair that does not); it updates, deletes, saves and loads both
  together.

>>> from types import SimpleNamespace as Doc
>>> from labkit.retrieval.chunk import chunk_whole
>>> docs = [Doc(doc_id="a", text="Refunds are issued within 30 days", access="public", doc_version=1),
...         Doc(doc_id="b", text="Our office opens at nine", access="public", doc_version=1)]
>>> bm25 = BM25Index.build([c for d in docs for c in chunk_whole(d)])
>>> [hit.chunk.doc_id for hit in bm25.search("refund", k=1)]
['a']
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from labkit.errors import LabkitError
from labkit.retrieval.chunk import Chunk
from labkit.retrieval.index import FILES as DENSE_FILES
from labkit.retrieval.index import AccessPolicy, Hit, VectorIndex, check_unique_chunks, read_chunks, write_chunks
from labkit.runtime import say_once
from labkit.storage import verify_folder, write_folder

BM25_FILES = ("chunks.jsonl", "bm25.json")


@dataclass(frozen=True)
class BM25Config:
    """BM25's knobs and how text becomes terms."""

    k1: float = 0.9  # term-frequency saturation (Anserini's default; bm25s uses 1.5)
    b: float = 0.4  # length normalisation (Anserini's default; 0.75 elsewhere)
    stopwords: str | None = "en"  # Lucene's 33 English words; "en_plus": 179 words; None: keep all
    stemmer: str | None = "english"  # a Snowball language (needs PyStemmer), or None


class Terms:
    """Text -> BM25 terms, as configured.

    >>> Terms(BM25Config()).of("The studies are running!")
    ['studi', 'run']
    """

    _WORD = re.compile(r"(?u)\b\w\w+\b")

    def __init__(self, config: BM25Config):
        import bm25s.stopwords

        lists = {None: (), "en": bm25s.stopwords.STOPWORDS_EN, "en_plus": bm25s.stopwords.STOPWORDS_EN_PLUS}
        if config.stopwords not in lists:
            raise LabkitError(f"unknown stopword list {config.stopwords!r}", "use 'en', 'en_plus' or None")
        self.stopwords = set(lists[config.stopwords])
        self.stem = None
        if config.stemmer:
            try:
                import Stemmer

                self.stem = Stemmer.Stemmer(config.stemmer).stemWords
            except ImportError:
                say_once("labkit: PyStemmer is not installed, so BM25 matches words without stemming "
                         "(pip install PyStemmer to match 'study' with 'studies')")

    def of(self, text: str) -> list[str]:
        words = [w for w in self._WORD.findall(text.lower()) if w not in self.stopwords]
        return self.stem(words) if self.stem else words


class BM25Index:
    """BM25 over chunks, searchable by role (see the module docstring for the rules)."""

    def __init__(self, config: BM25Config = BM25Config(),
                 access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None):
        self.config = config
        self.policy = access_policy if isinstance(access_policy, AccessPolicy) else AccessPolicy(access_policy)
        self.terms = Terms(config)
        self.chunks: list[Chunk] = []
        self._bm25 = None
        self._masks: dict[frozenset[str] | None, np.ndarray] = {}
        self._document_frequency: dict[str, int] = {}

    @classmethod
    def build(cls, chunks: Sequence[Chunk], config: BM25Config = BM25Config(),
              access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None,
              progress: bool = False) -> "BM25Index":
        """A BM25 index of ``chunks``."""
        index = cls(config, access_policy)
        index._reindex(list(chunks), progress)
        return index

    def _reindex(self, chunks: list[Chunk], progress: bool = False) -> None:
        import bm25s

        check_unique_chunks(chunks)
        self.chunks = chunks
        self._masks.clear()
        self._bm25 = None
        self._document_frequency = {}
        if chunks:
            self._bm25 = bm25s.BM25(k1=self.config.k1, b=self.config.b)
            corpus = [self.terms.of(c.searchable_text) for c in chunks]
            self._bm25.index(corpus, show_progress=progress)
            self._document_frequency = Counter(term for terms in corpus for term in set(terms))

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Replace every chunk of the documents in ``chunks`` (re-indexes everything: bm25s has no update)."""
        replaced = {c.doc_id for c in chunks}
        self._reindex([c for c in self.chunks if c.doc_id not in replaced] + list(chunks))

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of ``doc_id``; returns how many there were."""
        kept = [c for c in self.chunks if c.doc_id != doc_id]
        removed = len(self.chunks) - len(kept)
        if removed:
            self._reindex(kept)
        return removed

    def __len__(self) -> int:
        return len(self.chunks)

    def save(self, folder: Path | str) -> Path:
        """Write the chunks, settings and access policy to ``folder`` atomically, with checksums."""
        return write_folder(Path(folder), self.write_files, BM25_FILES)

    def write_files(self, folder: Path) -> None:
        """Write :data:`BM25_FILES` into ``folder`` (:meth:`save` does it aside, with checksums)."""
        folder.mkdir(parents=True, exist_ok=True)
        write_chunks(folder / "chunks.jsonl", enumerate(self.chunks))
        (folder / "bm25.json").write_text(json.dumps(
            {"config": dataclasses.asdict(self.config), "access_policy": self.policy.to_json()}, indent=1))

    @classmethod
    def load(cls, folder: Path | str) -> "BM25Index":
        """Read an index saved by :meth:`save` (every file checked against its manifest) and index it again."""
        verify_folder(Path(folder), BM25_FILES, "BM25 index")
        return cls.read_files(Path(folder))

    @classmethod
    def read_files(cls, folder: Path) -> "BM25Index":
        """The index in ``folder`` as :meth:`write_files` left it (checked by the caller)."""
        meta = json.loads((folder / "bm25.json").read_text())
        return cls.build([c for _, c in read_chunks(folder / "chunks.jsonl")], BM25Config(**meta["config"]),
                         meta["access_policy"])

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every chunk for ``query`` (0 where no term is shared)."""
        if self._bm25 is None:
            return np.zeros(0, dtype=np.float32)
        ids = self._bm25.get_tokens_ids(self.terms.of(query))
        if not ids:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return self._bm25.get_scores_from_ids(ids)

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a term (as :class:`Terms` makes it: ``index.terms.of(word)``):
        high for rare terms, highest for a term no chunk holds."""
        n, df = len(self.chunks), self._document_frequency.get(term, 0)
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def coverage(self, query: str, chunks: Sequence[Chunk]) -> float:
        """How much of ``query`` the ``chunks`` speak to: the share of its terms, weighted by IDF, that occur in
        at least one of them (0 with no chunks, 1 when every term does). A question about something the index
        never mentions keeps its rarest terms unmatched, so its coverage is low even when some chunk scores
        well on the common ones: a signal to abstain (:class:`labkit.retrieval.answer.RagConfig` ``min_coverage``).

        >>> from labkit.retrieval.chunk import chunk_whole
        >>> from types import SimpleNamespace as Doc
        >>> bm25 = BM25Index.build(chunk_whole(Doc(doc_id="a", text="Refunds take 30 days", access="public", doc_version=1)))
        >>> bm25.coverage("refund days", bm25.chunks), bm25.coverage("gym membership days", bm25.chunks) < 0.2
        (1.0, True)
        """
        asked = list(dict.fromkeys(self.terms.of(query)))
        if not asked or not chunks:
            return 0.0
        found = {t for c in chunks for t in self.terms.of(c.searchable_text)}
        weights = [self.idf(t) for t in asked]
        return sum(w for t, w in zip(asked, weights) if t in found) / sum(weights)

    def passage_coverage(self, query: str, chunks: Sequence[Chunk]) -> float:
        """The :meth:`coverage` of the one chunk that covers ``query`` best (0 with no chunks). Three passages
        that each share a word with the question can cover it together, yet none of them is about it: a role
        that may not read the page holding the answer gets such passages
        (:class:`labkit.retrieval.answer.RagConfig` ``min_passage_coverage``).

        >>> from labkit.retrieval.chunk import chunk_whole
        >>> from types import SimpleNamespace as Doc
        >>> docs = [Doc(doc_id=d, text=t, access="public", doc_version=1) for d, t in
        ...         (("a", "Crew rest rules"), ("b", "Shift swaps by noon"), ("c", "Refunds in 30 days"))]
        >>> bm25 = BM25Index.build([c for d in docs for c in chunk_whole(d)])
        >>> q = "crew shift length"
        >>> round(bm25.coverage(q, bm25.chunks[:2]), 2), round(bm25.passage_coverage(q, bm25.chunks[:2]), 2)
        (0.49, 0.24)
        """
        return max((self.coverage(query, [c]) for c in chunks), default=0.0)

    def search(self, query: str, k: int = 5, role: str | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``query`` that ``role`` may read, best first."""
        if k < 1:
            raise LabkitError(f"k={k}", "ask for at least one result (k >= 1)")
        labels = self.policy.readable(role)
        if labels not in self._masks:
            self._masks[labels] = np.array([labels is None or c.access in labels for c in self.chunks], dtype=bool)
        readable = np.flatnonzero(self._masks[labels])
        if not len(readable):
            return []
        scores = self.scores(query)[readable]
        top = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.chunks[readable[j]], float(scores[j]), "bm25") for j in top]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hit]], rrf_k: int = 60,
                           limit: int | None = None) -> list[Hit]:
    """Merge ranked lists of hits: ``score(chunk) = sum over lists of 1 / (rrf_k + rank)``.

    Ties keep the order in which chunks were first seen.

    >>> c = {n: Chunk(n, n, 1, "public", 0, (), n) for n in "xyz"}
    >>> dense = [Hit(c["x"], 0.9), Hit(c["y"], 0.8)]
    >>> bm25 = [Hit(c["y"], 12.0, "bm25"), Hit(c["z"], 3.0, "bm25")]
    >>> [(h.chunk.chunk_id, round(h.score, 4)) for h in reciprocal_rank_fusion([dense, bm25])]
    [('y', 0.0325), ('x', 0.0164), ('z', 0.0161)]
    """
    fused: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.chunk.chunk_id] = fused.get(hit.chunk.chunk_id, 0.0) + 1.0 / (rrf_k + rank)
            chunks.setdefault(hit.chunk.chunk_id, hit.chunk)
    order = sorted(fused, key=lambda cid: -fused[cid])  # sorted() is stable: ties keep first-seen order
    return [Hit(chunks[cid], fused[cid], "hybrid") for cid in order[:limit]]


@dataclass(frozen=True)
class HybridConfig:
    """How deep each list goes before fusing, and the fusion constant."""

    depth: int = 100  # results taken from each of dense and BM25 (at least k)
    rrf_k: int = 60


class HybridRetriever:
    """Dense + BM25, fused by reciprocal rank; both indexes must hold the same chunks and policy.

    >>> from types import SimpleNamespace as Doc
    >>> from labkit.retrieval.chunk import chunk_whole
    >>> from labkit.retrieval.embed import HashingEmbedder
    >>> docs = [Doc(doc_id="a", text="the refund window is 30 days", access="public", doc_version=1),
    ...         Doc(doc_id="b", text="salaries are paid monthly", access="finance", doc_version=1)]
    >>> chunks, policy = [c for d in docs for c in chunk_whole(d)], {"customer": ["public"], "finance": ["public", "finance"]}
    >>> hybrid = HybridRetriever(VectorIndex.build(chunks, HashingEmbedder(), access_policy=policy),
    ...                          BM25Index.build(chunks, access_policy=policy))
    >>> [h.chunk.doc_id for h in hybrid.search("refund window", k=5, role="customer")]
    ['a']
    """

    def __init__(self, dense: VectorIndex, lexical: BM25Index, config: HybridConfig = HybridConfig()):
        if dense.policy.to_json() != lexical.policy.to_json():
            raise LabkitError("the dense and BM25 indexes of a hybrid retriever have different access policies, so "
                              "one could return what the other forbids",
                              "build both with the same access_policy (labkit.ladder.rag.build_retriever does)")
        if {(c.chunk_id, c.access) for c in dense.all_chunks()} != {(c.chunk_id, c.access) for c in lexical.chunks}:
            raise LabkitError("the dense and BM25 indexes of a hybrid retriever hold different chunks (or labels)",
                              "build the BM25 index from the dense one's chunks: BM25Index.build(dense.all_chunks(), ...), "
                              "and update both through the hybrid retriever's upsert")
        self.dense, self.lexical, self.config = dense, lexical, config

    def search(self, query: str, k: int = 5, role: str | None = None,
               query_vector: np.ndarray | None = None) -> list[Hit]:
        """The ``k`` best chunks by fused rank (``query_vector``: the query already embedded)."""
        depth = max(k, self.config.depth)
        vector = self.dense.embedder.embed_query(query) if query_vector is None else query_vector
        rankings = [self.dense.search_vector(vector, depth, role), self.lexical.search(query, depth, role)]
        return reciprocal_rank_fusion(rankings, self.config.rrf_k, limit=k)

    def coverage(self, query: str, chunks: Sequence[Chunk]) -> float:
        """:meth:`BM25Index.coverage`, with the BM25 index's term statistics."""
        return self.lexical.coverage(query, chunks)

    def passage_coverage(self, query: str, chunks: Sequence[Chunk]) -> float:
        """:meth:`BM25Index.passage_coverage`, with the BM25 index's term statistics."""
        return self.lexical.passage_coverage(query, chunks)

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Add or replace chunks in both indexes, so they stay in step."""
        self.dense.upsert(chunks)
        self.lexical.upsert(chunks)

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of ``doc_id`` from both indexes; returns how many there were."""
        self.lexical.delete_document(doc_id)
        return self.dense.delete_document(doc_id)

    def save(self, folder: Path | str) -> Path:
        """Write both indexes (``dense/`` and ``bm25/``) and the fusion settings into ``folder`` at once,
        atomically and with one checksummed manifest."""
        def write(tmp: Path) -> None:
            self.dense.write_files(tmp / "dense")
            self.lexical.write_files(tmp / "bm25")
            (tmp / "hybrid.json").write_text(json.dumps(dataclasses.asdict(self.config), indent=1))

        return write_folder(Path(folder), write, HYBRID_FILES)

    @classmethod
    def load(cls, folder: Path | str, embedder=None) -> "HybridRetriever":
        """Read a retriever saved by :meth:`save` (every file checked; ``embedder`` as for
        :meth:`labkit.retrieval.index.VectorIndex.load`)."""
        folder = Path(folder)
        verify_folder(folder, HYBRID_FILES, "hybrid retriever")
        config = HybridConfig(**json.loads((folder / "hybrid.json").read_text()))
        return cls(VectorIndex.read_files(folder / "dense", embedder), BM25Index.read_files(folder / "bm25"), config)


HYBRID_FILES = (*(f"dense/{name}" for name in DENSE_FILES), *(f"bm25/{name}" for name in BM25_FILES), "hybrid.json")
