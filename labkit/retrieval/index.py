"""A FAISS vector index of chunks, with access control, updates and safe saving.

:class:`VectorIndex` keeps the chunks' vectors in FAISS and the chunks themselves
(text, doc id, version, access label) next to them. Three kinds (``IndexConfig.kind``):

- ``"flat"`` (default): exact inner-product search over every vector;
- ``"hnsw"``: a graph, approximate, fast at large sizes; it cannot remove vectors,
  so a deleted or replaced chunk becomes a *tombstone* (kept in FAISS, never
  returned) and the graph is rebuilt once tombstones reach ``rebuild_after`` of it;
- ``"ivf"``: vectors grouped into ``ivf_lists`` clusters, ``ivf_probes`` of them
  searched; approximate, trained once (k-means, seeded by ``seed``).

**Who may read what.** An :class:`AccessPolicy` maps each role to the access labels
it may read. The filter is part of the search: FAISS is handed the set of ids the
role may read (an ``IDSelectorBitmap``), so a forbidden chunk is never a candidate,
and the ``k`` results are filled from readable chunks only. If an approximate index
finds fewer than ``min(k, readable)``, an exact search over the readable chunks
fills the list. Every result is checked against the policy once more before it is
returned. Rules, each tested:

- ``k`` larger than what the role may read: all readable chunks, best first;
- a role that may read nothing (or nothing of what is indexed): an empty list;
- a role the policy does not name: an error (it fails closed, never open);
- an index built without a policy: every chunk is readable and ``role`` must be None.

**Updates.** :meth:`VectorIndex.upsert` replaces all chunks of the documents it is
given (re-indexing one changed document leaves the rest alone);
:meth:`VectorIndex.delete_document` removes one.

**Saving.** :meth:`VectorIndex.save` writes a folder next to the target, with a
``SHA256SUMS`` manifest written last, and renames it into place;
:meth:`VectorIndex.load` checks every file against the manifest and names the
missing or damaged one. The index records its embedder's key and dimension, and
refuses another embedder.

>>> from types import SimpleNamespace as Doc
>>> from labkit.retrieval.chunk import chunk_whole
>>> from labkit.retrieval.embed import HashingEmbedder
>>> docs = [Doc(doc_id="prices", text="the pro plan costs 12 euros", access="public", doc_version=1),
...         Doc(doc_id="salaries", text="salaries are paid on the 25th", access="finance", doc_version=1)]
>>> chunks = [c for d in docs for c in chunk_whole(d)]
>>> policy = AccessPolicy({"customer": {"public"}, "finance": {"public", "finance"}})
>>> index = VectorIndex.build(chunks, HashingEmbedder(), access_policy=policy)
>>> [hit.chunk.doc_id for hit in index.search("when are salaries paid", k=5, role="customer")]
['prices']
>>> [hit.chunk.doc_id for hit in index.search("when are salaries paid", k=5, role="finance")]
['salaries', 'prices']
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from labkit import storage
from labkit.errors import LabkitError
from labkit.retrieval.chunk import Chunk
from labkit.retrieval.embed import EmbedConfig, Embedder
from labkit.storage import write_folder

FORMAT = 1
FILES = ("vectors.faiss", "chunks.jsonl", "index.json")


@dataclass(frozen=True)
class Hit:
    """One search result: the chunk, its score (higher is better) and the method that found it."""

    chunk: Chunk
    score: float
    method: str = "dense"


@dataclass(frozen=True)
class IndexConfig:
    """The kind of FAISS index and its knobs (see the module docstring)."""

    kind: str = "flat"  # "flat" (exact), "hnsw" or "ivf" (approximate)
    hnsw_neighbors: int = 32  # M: links per vector in the graph
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 64  # candidates explored per search: higher is slower and more exact
    ivf_lists: int | None = None  # None: about 4 * sqrt(n) at the first build
    ivf_probes: int = 8  # lists searched per query: higher is slower and more exact
    rebuild_after: float = 0.25  # HNSW: rebuild when this share of its vectors are tombstones
    seed: int = 0  # IVF k-means
    search_threads: int | None = 1  # FAISS threads for one query; None: FAISS's default (every core)


class AccessPolicy:
    """Which access labels each role may read; ``None`` means no access control.

    >>> policy = AccessPolicy({"customer": ["public"], "agent": ["public", "staff"]})
    >>> sorted(policy.readable("agent"))
    ['public', 'staff']
    >>> AccessPolicy(None).readable(None) is None      # everything
    True
    """

    def __init__(self, readable: Mapping[str, Iterable[str]] | None):
        self.rules = None if readable is None else {role: frozenset(labels) for role, labels in readable.items()}

    def readable(self, role: str | None) -> frozenset[str] | None:
        """The labels ``role`` may read, or None for "everything" (no policy)."""
        if self.rules is None:
            if role is not None:
                raise LabkitError(f"role {role!r} given, but this index has no access policy",
                                  "build it with access_policy={role: {labels}}, or search with role=None")
            return None
        if role is None:
            raise LabkitError("this index has an access policy, so every search needs a role",
                              f"pass role= one of: {', '.join(sorted(self.rules))}")
        if role not in self.rules:
            raise LabkitError(f"unknown role {role!r}", f"use one of: {', '.join(sorted(self.rules))}")
        return self.rules[role]

    def to_json(self) -> dict | None:
        return None if self.rules is None else {r: sorted(labels) for r, labels in self.rules.items()}


@dataclass
class _Readable:
    """The FAISS ids one set of labels may read: a mask (None: all), its bitmap and selector."""

    mask: np.ndarray | None
    bits: np.ndarray | None  # the selector reads this memory: keep it alive with it
    selector: object | None
    count: int


class VectorIndex:
    """Chunks and their vectors, searchable by role. Build with :meth:`build` or :meth:`load`."""

    def __init__(self, embedder, config: IndexConfig = IndexConfig(),
                 access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None):
        if config.kind not in ("flat", "hnsw", "ivf"):
            raise LabkitError(f"unknown index kind {config.kind!r}", "use 'flat', 'hnsw' or 'ivf'")
        self.embedder = embedder
        self.config = config
        self.policy = access_policy if isinstance(access_policy, AccessPolicy) else AccessPolicy(access_policy)
        self.embedder_key = embedder.key
        self.dimension = int(embedder.dimension)
        self.faiss = None  # created at the first add (IVF needs vectors to train)
        self.chunks: dict[int, Chunk] = {}  # FAISS id -> chunk
        self.ids_by_doc: dict[str, list[int]] = {}
        self.next_id = 0
        self._label_of_id: list[str | None] = []  # FAISS id -> access label; None: deleted or tombstone
        self._masks: dict[frozenset[str] | None, _Readable] = {}  # readable labels -> ids

    # -- building and updating -------------------------------------------------

    @classmethod
    def build(cls, chunks: Sequence[Chunk], embedder, config: IndexConfig = IndexConfig(),
              access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None,
              vectors: np.ndarray | None = None) -> "VectorIndex":
        """A new index of ``chunks`` (embedded now, unless their ``vectors`` are given)."""
        index = cls(embedder, config, access_policy)
        check_unique_chunks(chunks)
        index._add(list(chunks), vectors)
        return index

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray | None = None) -> None:
        """Replace every chunk of the documents in ``chunks`` by these (new documents are added)."""
        chunks = list(chunks)
        check_unique_chunks(chunks)
        if vectors is None and chunks:  # embed first: if that fails, the old version stays searchable
            vectors = self.embedder.embed([c.searchable_text for c in chunks])
        for doc_id in {c.doc_id for c in chunks}:
            self.delete_document(doc_id)
        self._add(chunks, vectors)

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of ``doc_id``; returns how many there were (0 if unknown)."""
        ids = self.ids_by_doc.pop(doc_id, [])
        if not ids:
            return 0
        for i in ids:
            del self.chunks[i]
            self._label_of_id[i] = None
        self._masks.clear()
        if self.config.kind == "hnsw":  # tombstones: kept in FAISS, never returned
            if self.faiss.ntotal - len(self.chunks) >= self.config.rebuild_after * self.faiss.ntotal:
                self._rebuild()
        else:
            self.faiss.remove_ids(np.asarray(ids, dtype=np.int64))
        return len(ids)

    def _add(self, chunks: list[Chunk], vectors: np.ndarray | None) -> None:
        if not chunks:
            return
        clash = [c.chunk_id for c in chunks if c.doc_id in self.ids_by_doc]
        if clash:
            raise LabkitError(f"chunk {clash[0]!r} belongs to a document already in the index",
                              "use upsert() to replace a document's chunks")
        vectors = chunk_vectors(self, chunks, vectors)
        if self.faiss is None:
            self.faiss = self._new_faiss(vectors)
        ids = np.arange(self.next_id, self.next_id + len(chunks), dtype=np.int64)
        self.faiss.add_with_ids(vectors, ids)
        for i, chunk in zip(ids.tolist(), chunks):
            self.chunks[i] = chunk
            self.ids_by_doc.setdefault(chunk.doc_id, []).append(i)
            self._label_of_id.append(chunk.access)
        self.next_id += len(chunks)
        self._masks.clear()

    def _new_faiss(self, training: np.ndarray):
        import faiss

        cfg, d = self.config, self.dimension
        if cfg.kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(d))
        if cfg.kind == "hnsw":
            graph = faiss.IndexHNSWFlat(d, cfg.hnsw_neighbors, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = cfg.hnsw_ef_construction
            return faiss.IndexIDMap2(graph)
        lists = cfg.ivf_lists or int(4 * np.sqrt(len(training)))
        lists = max(1, min(lists, len(training) // 39))  # k-means wants >= 39 points per list
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.seed = cfg.seed
        ivf.train(training)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # lets it remove and reconstruct by id
        return ivf

    def _rebuild(self) -> None:
        """Rebuild the HNSW graph from the live vectors only (drops tombstones)."""
        ids = np.asarray(sorted(self.chunks), dtype=np.int64)
        vectors = self.faiss.reconstruct_batch(ids) if len(ids) else np.zeros((0, self.dimension), np.float32)
        self.faiss = self._new_faiss(vectors)
        if len(ids):
            self.faiss.add_with_ids(vectors, ids)

    # -- searching -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.chunks)

    def all_chunks(self) -> list[Chunk]:
        """Every live chunk, in the order it was added."""
        return [self.chunks[i] for i in sorted(self.chunks)]

    def search(self, query: str, k: int = 5, role: str | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``query`` that ``role`` may read, best first."""
        return self.search_vector(self.embedder.embed_query(query), k, role)

    def search_vector(self, vector: np.ndarray, k: int = 5, role: str | None = None) -> list[Hit]:
        """Like :meth:`search`, for a query already embedded (by the same embedder)."""
        vector = query_vector(self, vector, k).reshape(1, -1)
        labels = self.policy.readable(role)
        if self.faiss is None or not self.chunks:
            return []
        readable = self._readable(labels)
        if readable.count == 0:
            return []
        want = min(k, readable.count)
        with faiss_threads(self.config.search_threads):
            scores, ids = self.faiss.search(vector, want, params=self._params(readable.selector))
        found = [(s, i) for s, i in zip(scores[0].tolist(), ids[0].tolist()) if i >= 0]
        if len(found) < want:  # an approximate index missed some: exact search over the readable ones
            found = self._exact(vector[0], want, readable.mask)
        hits = [Hit(self.chunks[i], float(s)) for s, i in found]
        if any(labels is not None and h.chunk.access not in labels for h in hits):
            raise AssertionError("labkit bug: a search returned a chunk its role may not read")
        return hits

    def _readable(self, labels: frozenset[str] | None) -> "_Readable":
        """Which FAISS ids ``labels`` may read (None: every live chunk), cached until the next change."""
        import faiss

        if labels is None and self.faiss.ntotal == len(self.chunks):
            return _Readable(None, None, None, len(self.chunks))  # no policy, no tombstones: no selector
        if labels not in self._masks:
            mask = np.array([lab is not None and (labels is None or lab in labels)
                             for lab in self._label_of_id], dtype=bool)
            count = int(mask.sum())
            if count == self.faiss.ntotal:  # nothing to exclude: no selector, full speed
                self._masks[labels] = _Readable(None, None, None, count)
            else:
                bits = np.packbits(mask, bitorder="little")
                selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
                self._masks[labels] = _Readable(mask, bits, selector, count)
        return self._masks[labels]

    def _params(self, selector):
        import faiss

        if self.config.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.config.hnsw_ef_search)
        if self.config.kind == "ivf":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.config.ivf_probes)
        return faiss.SearchParameters(sel=selector) if selector is not None else None

    def _exact(self, vector: np.ndarray, k: int, mask: np.ndarray | None) -> list[tuple[float, int]]:
        ids = np.flatnonzero(mask) if mask is not None else np.asarray(sorted(self.chunks))
        vectors = self.faiss.reconstruct_batch(ids.astype(np.int64))
        scores = vectors @ vector
        top = np.argsort(-scores, kind="stable")[:k]
        return [(float(scores[j]), int(ids[j])) for j in top]

    # -- saving and loading ----------------------------------------------------

    def save(self, folder: Path | str) -> Path:
        """Write the index to ``folder`` atomically (aside first, then renamed into place)."""
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()) and not (folder / "index.json").exists():
            raise LabkitError(f"{folder} exists and is not a labkit index", "save into a new or empty folder")
        return write_folder(folder, self.write_files, FILES)

    def write_files(self, folder: Path) -> None:
        """Write :data:`FILES` into ``folder`` (:meth:`save` does it aside, with checksums)."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        if self.faiss is not None:
            faiss.write_index(self.faiss, str(folder / "vectors.faiss"))
        else:
            (folder / "vectors.faiss").write_bytes(b"")
        write_chunks(folder / "chunks.jsonl", sorted(self.chunks.items()))
        (folder / "index.json").write_text(json.dumps({
            "format": FORMAT, "embedder": self.embedder_key, "dimension": self.dimension,
            "config": dataclasses.asdict(self.config), "access_policy": self.policy.to_json(),
            "next_id": self.next_id, "chunks": len(self.chunks)}, indent=1))

    @classmethod
    def load(cls, folder: Path | str, embedder=None,
             access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None) -> "VectorIndex":
        """Read an index saved by :meth:`save`, after checking every file against its manifest.

        ``embedder`` defaults to the one the index was built with (loaded by its key);
        another one raises. ``access_policy`` defaults to the saved one.
        """
        verify_folder(Path(folder))
        return cls.read_files(Path(folder), embedder, access_policy)

    @classmethod
    def read_files(cls, folder: Path, embedder=None,
                   access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None) -> "VectorIndex":
        """The index in ``folder`` as :meth:`write_files` left it (checked by the caller)."""
        import faiss

        meta = json.loads((folder / "index.json").read_text())
        if embedder is None:
            embedder = Embedder(EmbedConfig(model=meta["embedder"]))
        if (embedder.key, int(embedder.dimension)) != (meta["embedder"], meta["dimension"]):
            raise LabkitError(
                f"the index in {folder} was built with {meta['embedder']} ({meta['dimension']}-d vectors), "
                f"not {embedder.key} ({embedder.dimension}-d): its vectors mean nothing to that model",
                f"load it with Embedder(EmbedConfig(model={meta['embedder']!r})), or rebuild the index "
                f"with {embedder.key}")
        policy = access_policy if access_policy is not None else meta["access_policy"]
        index = cls(embedder, IndexConfig(**meta["config"]), policy)
        if (folder / "vectors.faiss").stat().st_size:
            index.faiss = faiss.read_index(str(folder / "vectors.faiss"))
        index.next_id = meta["next_id"]
        index._label_of_id = [None] * index.next_id
        for i, chunk in read_chunks(folder / "chunks.jsonl"):
            index.chunks[i] = chunk
            index.ids_by_doc.setdefault(chunk.doc_id, []).append(i)
            index._label_of_id[i] = chunk.access
        return index


def chunk_vectors(index, chunks: Sequence[Chunk], vectors: np.ndarray | None) -> np.ndarray:
    """One float32 vector per chunk for ``index`` (anything with ``embedder``, ``dimension``, ``embedder_key``):
    ``vectors`` checked, or the chunks embedded by the index's embedder."""
    if vectors is None:
        vectors = index.embedder.embed([c.searchable_text for c in chunks])
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.shape != (len(chunks), index.dimension):
        raise LabkitError(f"got vectors of shape {vectors.shape} for {len(chunks)} chunks",
                          f"pass one {index.dimension}-d vector per chunk, from {index.embedder_key}")
    return vectors


def query_vector(index, vector: np.ndarray, k: int) -> np.ndarray:
    """A query's vector as one contiguous float32 row for ``index``, checked, with ``k`` (at least 1)."""
    vector = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(-1))
    if vector.shape[0] != index.dimension:
        raise LabkitError(f"query vector has {vector.shape[0]} dimensions, this index {index.dimension}",
                          f"embed queries with {index.embedder_key}, the embedder the index was built with")
    if k < 1:
        raise LabkitError(f"k={k}", "ask for at least one result (k >= 1)")
    return vector


@contextmanager
def faiss_threads(count: int | None):
    """Run FAISS with ``count`` OpenMP threads inside the block (None: leave it alone).

    One query is searched in one thread anyway for small indexes; for large flat
    ones FAISS splits the scan across cores, which on a busy 2-core machine costs
    several times what it saves (see docs/BENCHMARKS.md). The setting is per thread
    and restored on exit.
    """
    if count is None:
        yield
        return
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def verify_folder(folder: Path) -> None:
    """Check a saved index folder: present, complete, and every file matching ``SHA256SUMS``."""
    storage.verify_folder(folder, FILES, "index")


def write_chunks(path: Path, numbered: Iterable[tuple[int, Chunk]]) -> None:
    """Chunks as JSON lines, each with its number (a FAISS id, or a position)."""
    with open(path, "w", encoding="utf-8") as f:
        for i, chunk in numbered:
            f.write(json.dumps({"id": i, **dataclasses.asdict(chunk)}, ensure_ascii=False) + "\n")


def read_chunks(path: Path) -> list[tuple[int, Chunk]]:
    """What :func:`write_chunks` wrote: (number, chunk) pairs, in file order."""
    numbered = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            i = row.pop("id")
            numbered.append((i, Chunk(**{**row, "heading_path": tuple(row["heading_path"])})))
    return numbered


def check_unique_chunks(chunks: Sequence[Chunk]) -> None:
    """Raise if two chunks share a chunk id (what two documents with one doc_id produce)."""
    seen = set()
    for chunk in chunks:
        if chunk.chunk_id in seen:
            raise LabkitError(f"two chunks have the id {chunk.chunk_id!r} (two documents with one doc_id?)",
                              "give every document its own doc_id before chunking")
        seen.add(chunk.chunk_id)
