"""Measure retrieval on the course data: recall by chunk size, exact vs approximate search, 2-D maps.

What labs 02 and 03 plot, each as plain numbers:

- :func:`chunk_size_sweep`: cut the corpus at several chunk sizes, embed it once per size, and
  score **document-level** recall@k on questions with gold document ids (a document is found
  when any of its chunks is; documents rank by their best chunk, see :func:`rank_documents`);
- :func:`score_rankings`: recall@k (overall and by the kind of the gold document) of any
  ranked document lists, so dense, BM25 and hybrid runs are scored alike;
- :func:`search_tradeoff`: recall@k against exact (flat) search and milliseconds per query, for
  HNSW at several ``efSearch`` and IVF at several ``nprobe``, all on the same vectors;
- :func:`clustered_vectors`: synthetic unit vectors with the shape of real sentence embeddings
  (clusters in a low-rank space, plus noise), to make that trade-off visible at 20,000+ vectors;
- :func:`pca_2d` and :func:`same_label_neighbours`: draw embeddings in 2-D, and check in the
  full space what the picture suggests.

Randomness comes in as an argument (a ``random.Random`` or a ``numpy`` ``Generator``). A worked
example with the model-free :class:`labkit.retrieval.embed.HashingEmbedder` (only shared words match):

>>> from types import SimpleNamespace as Doc
>>> from labkit.retrieval.embed import HashingEmbedder
>>> docs = [Doc(doc_id="hours", title="Opening hours", kind="wiki", access="public", doc_version=1,
...             text="We open at nine and close at five on weekdays."),
...         Doc(doc_id="refunds", title="Refunds", kind="wiki", access="public", doc_version=1,
...             text="Refunds reach your card within seven days of the return.")]
>>> questions = [Doc(question="when do you open", gold_doc_ids=("hours",)),
...              Doc(question="how fast are refunds paid back", gold_doc_ids=("refunds",))]
>>> points = chunk_size_sweep(docs, questions, HashingEmbedder(256), sizes=[4, 16],
...                           config=SweepConfig(ks=(1,)), tokenizer=str.split)
>>> [(p.max_tokens, p.chunks, p.scores.recall[1]) for p in points]
[(4, 6, 1.0), (16, 2, 1.0)]

The course-sized runs take seconds to minutes (embedding is the cost)::

    >>> from labkit.course.corpus import course_corpus
    >>> from labkit.retrieval.embed import Embedder
    >>> sample = sample_questions(course_corpus().questions("facts"), 100, random.Random(0))
    >>> len(sample), all(q.gold_doc_ids for q in sample)
    (100, True)
    >>> points = chunk_size_sweep(course_corpus().documents("v1"), sample, Embedder(), [32, 128])  # doctest: +SKIP
    >>> curve = search_tradeoff(*clustered_vectors(20_000, np.random.default_rng(0), queries=200))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from labkit.retrieval.chunk import Chunk, ChunkConfig, chunk_documents
from labkit.errors import LabkitError
from labkit.retrieval.index import IndexConfig, VectorIndex, faiss_threads
from labkit.retrieval.metrics import recall_at_k


# ---------------------------------------------------------------------------
# questions and document rankings


def sample_questions(records: Sequence[Any], n: int, rng: random.Random) -> list:
    """``n`` records that have gold documents, drawn with ``rng`` (all of them when there are fewer).

    >>> from types import SimpleNamespace as Q
    >>> qs = [Q(question=f"q{i}", gold_doc_ids=("d",) if i % 2 else ()) for i in range(10)]
    >>> [q.question for q in sample_questions(qs, 3, random.Random(0))]
    ['q7', 'q9', 'q1']
    """
    usable = [r for r in records if r.gold_doc_ids]
    return rng.sample(usable, min(n, len(usable)))


def doc_ids(ranked: Iterable[Any]) -> list[str]:
    """Document ids in order of first appearance, from hits, chunks or chunk ids (``"doc#3"``).

    >>> doc_ids(["wiki-returns#2", "prod-QM-1001#0", "wiki-returns#0"])
    ['wiki-returns', 'prod-QM-1001']
    """
    seen: dict[str, None] = {}
    for item in ranked:
        if isinstance(item, str):
            doc_id = item.rsplit("#", 1)[0]
        else:
            doc_id = getattr(item, "chunk", item).doc_id
        seen.setdefault(doc_id, None)
    return list(seen)


def rank_documents(index: VectorIndex, vector: np.ndarray, n_docs: int, role: str | None = None) -> list[str]:
    """The ``n_docs`` best documents for one query vector, each ranked by its best chunk.

    Asks the index for more chunks until ``n_docs`` distinct documents are found (or the
    index runs out), so a document with many similar chunks cannot crowd out the others.
    """
    depth = max(1, n_docs)
    while True:
        hits = index.search_vector(vector, depth, role)
        ranked = doc_ids(hits)
        if len(ranked) >= n_docs or len(hits) < depth:
            return ranked[:n_docs]
        depth *= 4


@dataclass(frozen=True)
class RecallScores:
    """Recall@k over a set of questions, overall and by the kind of each question's gold document."""

    n: int  # questions scored
    recall: dict[int, float]  # k -> mean recall@k
    by_kind: dict[str, dict[int, float]] = field(default_factory=dict)  # kind -> k -> mean recall@k
    counts: dict[str, int] = field(default_factory=dict)  # kind -> questions


def score_rankings(rankings: Sequence[Sequence[str]], questions: Sequence[Any], ks: Sequence[int] = (1, 5),
                   kinds: Mapping[str, str] | None = None) -> RecallScores:
    """Recall@k of ranked document ids, one list per question (against its ``gold_doc_ids``).

    ``kinds`` maps doc id -> kind (wiki, product...): each question is also counted under the
    kind of its first gold document.

    >>> from types import SimpleNamespace as Q
    >>> qs = [Q(gold_doc_ids=("a",)), Q(gold_doc_ids=("b",))]
    >>> s = score_rankings([["a", "x"], ["x", "b"]], qs, ks=(1, 2), kinds={"a": "wiki", "b": "ticket"})
    >>> s.recall, s.by_kind["ticket"]
    ({1: 0.5, 2: 1.0}, {1: 0.0, 2: 1.0})
    """
    if len(rankings) != len(questions):
        raise LabkitError(f"{len(rankings)} rankings for {len(questions)} questions",
                          "pass one ranked list of document ids per question, in the same order")
    per_kind: dict[str, list[dict[int, float]]] = {}
    rows = []
    for ranked, question in zip(rankings, questions):
        gold = set(question.gold_doc_ids)
        row = {k: recall_at_k(list(ranked), gold, k) for k in ks}
        rows.append(row)
        if kinds is not None and question.gold_doc_ids:
            per_kind.setdefault(kinds.get(question.gold_doc_ids[0], "?"), []).append(row)

    def mean(group: list[dict[int, float]]) -> dict[int, float]:
        return {k: statistics.fmean(r[k] for r in group) if group else 0.0 for k in ks}

    return RecallScores(len(rows), mean(rows), {kind: mean(group) for kind, group in sorted(per_kind.items())},
                        {kind: len(group) for kind, group in sorted(per_kind.items())})


# ---------------------------------------------------------------------------
# chunk size against recall


@dataclass(frozen=True)
class SweepConfig:
    """How :func:`chunk_size_sweep` cuts and scores."""

    method: str = "window"  # a labkit.retrieval.chunk method: "window", "sentences" or "markdown"
    overlap_share: float = 0.25  # window overlap, as a share of the chunk size
    ks: tuple[int, ...] = (1, 5)  # recall@k for each k


@dataclass(frozen=True)
class SweepPoint:
    """One chunk size: how many chunks it made, the recall it gave, and what it cost to embed."""

    max_tokens: int
    chunks: int
    scores: RecallScores
    embed_seconds: float
    chunk_list: list[Chunk] = field(repr=False, compare=False, default_factory=list)
    vectors: np.ndarray | None = field(repr=False, compare=False, default=None)


def chunk_size_sweep(docs: Sequence[Any], questions: Sequence[Any], embedder, sizes: Sequence[int],
                     config: SweepConfig = SweepConfig(), tokenizer=None) -> list[SweepPoint]:
    """Recall@k of each chunk size in ``sizes``: one :class:`SweepPoint` per size, in order.

    The questions are embedded once; the corpus once per size (that is the cost). Each point
    keeps its chunks and vectors, for plots. ``tokenizer`` defaults to the embedder's.
    """
    if not sizes:
        raise LabkitError("no chunk sizes to sweep", "pass sizes, for example [32, 64, 128, 256]")
    tokenizer = tokenizer if tokenizer is not None else getattr(embedder, "tokenizer", None)
    kinds = {d.doc_id: getattr(d, "kind", "?") for d in docs}
    query_vectors = embedder.embed([q.question for q in questions])
    n_docs = max(config.ks)
    points = []
    for size in sizes:
        chunking = ChunkConfig(config.method, int(size), min(int(size * config.overlap_share), int(size) - 1))
        chunks = chunk_documents(docs, chunking, tokenizer, progress=False)
        started = time.perf_counter()
        vectors = embedder.embed([c.searchable_text for c in chunks])
        seconds = time.perf_counter() - started
        index = VectorIndex.build(chunks, embedder, vectors=vectors)
        rankings = [rank_documents(index, v, n_docs) for v in query_vectors]
        points.append(SweepPoint(int(size), len(chunks), score_rankings(rankings, questions, config.ks, kinds),
                                 seconds, chunks, vectors))
    return points


# ---------------------------------------------------------------------------
# exact against approximate search


@dataclass(frozen=True)
class TradeoffConfig:
    """Which approximate settings :func:`search_tradeoff` measures, and how."""

    k: int = 10  # recall@k against the exact top k
    ef_search: tuple[int, ...] = (8, 16, 32, 64, 128)  # HNSW: candidates explored per query
    nprobe: tuple[int, ...] = (1, 4, 16, 64)  # IVF: clusters searched per query
    hnsw_neighbors: int = 32  # HNSW: M, links per vector
    ivf_lists: int | None = None  # IVF: clusters (None: IndexConfig's rule, about 4 * sqrt(n))
    build_threads: int | None = 1  # FAISS threads while building: 1 builds the same graph on every run
    warmup: int = 5  # queries run before timing starts
    seed: int = 0  # IVF k-means


@dataclass(frozen=True)
class TradeoffPoint:
    """One index setting: its recall against exact search and its speed."""

    kind: str  # "flat", "hnsw" or "ivf"
    setting: str  # "exact", "efSearch=16", "nprobe=4 of 512"
    value: int | None  # the efSearch or nprobe (None for flat)
    recall: float  # mean recall@k against the flat index's top k
    ms_per_query: float  # median over the queries, one query at a time
    build_seconds: float  # to build this kind of index (shared by all of its settings)


class _VectorsOnly:
    """A stand-in embedder for indexes built from ready-made vectors."""

    def __init__(self, dimension: int):
        self.dimension = dimension
        self.key = f"vectors-{dimension}"

    def embed(self, texts):
        raise LabkitError("this index holds ready-made vectors", "search it with search_vector()")

    embed_query = embed


def search_tradeoff(vectors: np.ndarray, queries: np.ndarray,
                    config: TradeoffConfig = TradeoffConfig()) -> list[TradeoffPoint]:
    """Flat, then HNSW at each ``ef_search``, then IVF at each ``nprobe``, on the same vectors.

    Recall is measured against the flat index's top ``k`` (so flat scores 1.0 by definition);
    time is the median per single query through :meth:`labkit.retrieval.index.VectorIndex.search_vector`.

    >>> x, q = clustered_vectors(2_000, np.random.default_rng(0), dimension=32, queries=20)
    >>> curve = search_tradeoff(x, q, TradeoffConfig(ef_search=(64,), nprobe=(1,)))
    >>> [(p.kind, p.setting, p.recall <= 1.0) for p in curve]
    [('flat', 'exact', True), ('hnsw', 'efSearch=64', True), ('ivf', 'nprobe=1 of 51', True)]
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    embedder = _VectorsOnly(vectors.shape[1])
    chunks = [Chunk(f"v{i}#0", f"v{i}", 1, "public", 0, (), "") for i in range(len(vectors))]
    k = min(config.k, len(vectors))

    def build(index_config: IndexConfig) -> tuple[VectorIndex, float]:
        started = time.perf_counter()
        with faiss_threads(config.build_threads):
            index = VectorIndex.build(chunks, embedder, index_config, vectors=vectors)
        return index, time.perf_counter() - started

    def measure(index: VectorIndex) -> tuple[list[list[str]], float]:
        for q in queries[: config.warmup]:
            index.search_vector(q, k)
        results, times = [], []
        for q in queries:
            started = time.perf_counter()
            hits = index.search_vector(q, k)
            times.append(time.perf_counter() - started)
            results.append([h.chunk.chunk_id for h in hits])
        return results, 1000 * statistics.median(times)

    flat, flat_seconds = build(IndexConfig("flat", seed=config.seed))
    truth, flat_ms = measure(flat)

    def recall(results: list[list[str]]) -> float:
        return statistics.fmean(len(set(r) & set(t)) / len(t) for r, t in zip(results, truth))

    points = [TradeoffPoint("flat", "exact", None, recall(truth), flat_ms, flat_seconds)]
    settings = [("hnsw", "hnsw_ef_search", "efSearch", config.ef_search),
                ("ivf", "ivf_probes", "nprobe", config.nprobe)]
    for kind, knob, label, values in settings:
        if not values:
            continue
        index, seconds = build(IndexConfig(kind, hnsw_neighbors=config.hnsw_neighbors,
                                           ivf_lists=config.ivf_lists, seed=config.seed))
        of = f" of {index.faiss.nlist}" if kind == "ivf" else ""  # nprobe of how many clusters
        for value in values:
            index.config = dataclasses.replace(index.config, **{knob: int(value)})  # a search knob: no rebuild
            results, ms = measure(index)
            points.append(TradeoffPoint(kind, f"{label}={value}{of}", int(value), recall(results), ms, seconds))
    return points


def clustered_vectors(n: int, rng: np.random.Generator, dimension: int = 384, clusters: int = 200,
                      latent_dimension: int = 32, spread: float = 1.1, noise: float = 0.5,
                      queries: int = 0):
    """``n`` unit vectors shaped like sentence embeddings (and ``queries`` more, if asked).

    Cluster centres live in a ``latent_dimension``-d space mapped into ``dimension``-d; each
    vector is a centre plus ``spread`` of scatter, plus isotropic noise ``noise`` times as long
    as that signal. (These defaults make the flat/HNSW/IVF recall curves close to those of the
    real SciFact MiniLM vectors, see docs/BENCHMARKS.md.) Returns ``vectors``, or
    ``(vectors, queries)`` when ``queries`` > 0: the queries come from the same distribution.

    >>> x = clustered_vectors(100, np.random.default_rng(0), dimension=16)
    >>> x.shape, x.dtype, bool(np.allclose(np.linalg.norm(x, axis=1), 1.0))
    ((100, 16), dtype('float32'), True)
    """
    total = n + queries
    basis = rng.standard_normal((latent_dimension, dimension)).astype(np.float32) / np.sqrt(latent_dimension)
    centres = rng.standard_normal((clusters, latent_dimension)).astype(np.float32)
    latent = centres[rng.integers(0, clusters, total)] + spread * rng.standard_normal((total, latent_dimension))
    signal = latent.astype(np.float32) @ basis
    scatter = rng.standard_normal((total, dimension)).astype(np.float32)
    scatter *= noise * np.linalg.norm(signal, axis=1, keepdims=True) / np.linalg.norm(scatter, axis=1, keepdims=True)
    x = (signal + scatter).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return (x[:n], x[n:]) if queries else x


# ---------------------------------------------------------------------------
# embeddings in two dimensions


@dataclass(frozen=True)
class Projection:
    """A fitted 2-D PCA: call it on vectors to get their (x, y)."""

    mean: np.ndarray
    axes: np.ndarray  # (2, dimension): the two directions of largest variance
    explained: tuple[float, float]  # share of the total variance along each axis

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        return (np.asarray(vectors, dtype=np.float64) - self.mean) @ self.axes.T


def pca_2d(vectors: np.ndarray) -> Projection:
    """Principal component analysis down to 2 axes, with numpy only.

    Each axis is signed so that its largest entry is positive: the picture is the same
    on every run and every machine.

    >>> x = np.array([[0.0, 0.0, 1.0], [2.0, 1.0, 1.0], [4.0, 0.0, 1.0]])
    >>> p = pca_2d(x)
    >>> [round(share, 2) for share in p.explained], p(x[[0, 2]]).round(2).tolist()
    ([0.92, 0.08], [[-2.0, -0.33], [2.0, -0.33]])
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise LabkitError(f"got an array of shape {x.shape}", "pass at least two vectors as rows of a 2-D array")
    mean = x.mean(axis=0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    axes = np.zeros((2, x.shape[1]))
    axes[: min(2, len(vt))] = vt[:2]
    for row in axes:
        if row.any() and row[np.argmax(np.abs(row))] < 0:
            row *= -1
    variance = singular**2
    share = variance / variance.sum() if variance.sum() else np.zeros_like(variance)
    explained = tuple(float(share[i]) if i < len(share) else 0.0 for i in range(2))
    return Projection(mean, axes, explained)


def same_label_neighbours(vectors: np.ndarray, labels: Sequence[str]) -> float:
    """Share of vectors whose nearest other vector (by inner product) carries the same label.

    >>> v = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> same_label_neighbours(v, ["a", "a", "b", "b"])
    1.0
    """
    v = np.asarray(vectors, dtype=np.float64)
    if len(v) != len(labels) or len(v) < 2:
        raise LabkitError(f"{len(v)} vectors and {len(labels)} labels",
                          "pass at least two vectors and one label per vector")
    similarity = v @ v.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    labels = np.asarray(labels)
    return float(np.mean(labels[nearest] == labels))
