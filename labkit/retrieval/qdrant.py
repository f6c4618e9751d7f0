"""A Qdrant vector database behind the same interface as the FAISS index.

:class:`QdrantIndex` answers like :class:`labkit.retrieval.index.VectorIndex` (``build``, ``upsert``,
``delete_document``, ``search``, ``search_vector``, ``len``, ``all_chunks``) but keeps the vectors and
the chunks in a Qdrant collection, so the index can outgrow one machine. Where it lives is
:class:`QdrantConfig`'s business:

- ``path="folder"``: Qdrant's local mode, on disk, in this process (tests, a laptop); one process
  at a time may open a folder. It searches exactly (brute force) and evaluates the access filter in
  Python, point by point, and it commits each point to SQLite on its own: fine for the course corpus,
  slow past a few thousand chunks (docs/BENCHMARKS.md, "FAISS against Qdrant");
- ``url="http://host:6333"``: a Qdrant server or cluster (replicated, sharded; version 1.16 or later, for
  collection metadata), searched with its HNSW graph; the key in ``$QDRANT_API_KEY`` is sent when set;
- neither: in memory, gone when the index is.

**Who may read what**, by the same rules as the FAISS index (and the same :class:`AccessPolicy`):
the role's readable labels go to Qdrant as a payload filter inside the search (a ``MatchAny`` on
the chunk's ``access`` label), so a forbidden chunk is never a candidate and ``k`` is filled from
readable chunks; if an approximate server search returns fewer than ``min(k, readable)``, the search
is repeated exactly. Every hit is checked against the policy once more.

**Updates** are by document: every point carries its chunk's ``doc_id``, and
:meth:`QdrantIndex.upsert` writes the new chunks before it deletes the document's old ones, so a
search never finds a document missing halfway. A point's id is derived from its chunk id.

**Reopening.** The collection records the embedder's key and dimension (and the access policy);
:meth:`QdrantIndex.open` refuses another embedder. :func:`open_index` turns a spec such as
``"qdrant:PATH"`` into an index, for ``--index`` on the command line.

>>> import tempfile
>>> from labkit.retrieval.chunk import Chunk
>>> from labkit.retrieval.embed import HashingEmbedder
>>> returns = Chunk("returns#0", "returns", 1, "public", 0, ("Returns",), "returns are free within 45 days")
>>> margins = Chunk("margins#0", "margins", 1, "finance", 0, ("Margins",), "the margin target is 37 percent")
>>> roles = {"customer": {"public"}, "finance": {"public", "finance"}}
>>> config = QdrantConfig(path=tempfile.mkdtemp())          # local mode, on disk
>>> with QdrantIndex.build([returns, margins], HashingEmbedder(), config, access_policy=roles) as index:
...     [hit.chunk.doc_id for hit in index.search("what is the margin target", k=5, role="customer")]
['returns']
>>> with QdrantIndex.open(config, HashingEmbedder()) as index:     # reopened: the stored roles come back
...     [hit.chunk.doc_id for hit in index.search("what is the margin target", k=5, role="finance")]
['margins', 'returns']
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import numpy as np

from labkit.errors import LabkitError
from labkit.retrieval.chunk import Chunk
from labkit.retrieval.embed import EmbedConfig, Embedder
from labkit.retrieval.index import (AccessPolicy, Hit, IndexConfig, VectorIndex, check_unique_chunks, chunk_vectors,
                                    query_vector)

FORMAT = 1
DISTANCES = ("dot", "cosine")
SPEC_FORMS = "'faiss', 'qdrant:PATH' or 'qdrant+http://HOST:PORT'"
POINT_NAMESPACE = uuid.UUID("5b0f7c2e-8d1a-4c47-9a51-3f2f6c1e0d11")  # chunk id -> point id (uuid5)
CHUNK_FIELDS = tuple(f.name for f in dataclasses.fields(Chunk))


@dataclass(frozen=True)
class QdrantConfig:
    """Where the collection lives (``path``, ``url`` or neither: memory) and how it is searched.

    >>> QdrantConfig(path="idx", url="http://localhost:6333")
    Traceback (most recent call last):
    ...
    labkit.errors.LabkitError: QdrantConfig got both path='idx' and url='http://localhost:6333'
      fix: give path= for local mode on disk, or url= for a Qdrant server, not both
    """

    path: str | None = None  # a folder: local mode, on disk
    url: str | None = None  # a server, "http://host:6333"
    collection: str = "labkit"
    distance: str = "dot"  # "dot" is what the FAISS index scores with (embedders normalize); or "cosine"
    exact: bool = False  # a server: search exactly instead of with its HNSW graph (local mode always is)
    batch_size: int = 512  # points per write request
    timeout: int | None = None  # seconds a server request may take (None: the client's default)

    def __post_init__(self):
        if self.path is not None and self.url is not None:
            raise LabkitError(f"QdrantConfig got both path={self.path!r} and url={self.url!r}",
                              "give path= for local mode on disk, or url= for a Qdrant server, not both")
        if self.distance not in DISTANCES:
            raise LabkitError(f"unknown Qdrant distance {self.distance!r}", f"use one of: {', '.join(DISTANCES)}")
        if not self.collection:
            raise LabkitError("the Qdrant collection name is empty", "give collection= a name, e.g. 'labkit'")
        if self.batch_size < 1:
            raise LabkitError(f"batch_size={self.batch_size}", "write at least one point per request")

    @property
    def where(self) -> str:
        """Where the collection is, for messages: its folder, its server or memory, and its name."""
        return f"{self.path or self.url or ':memory:'} (collection {self.collection!r})"


class QdrantIndex:
    """Chunks and their vectors in a Qdrant collection, searchable by role. Make one with :meth:`build`
    (a new collection) or :meth:`open` (a stored one, or a new empty one); :meth:`close` it when done."""

    def __init__(self, embedder, config: QdrantConfig = QdrantConfig(),
                 access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None, *, client=None):
        self.embedder = embedder
        self.config = config
        self.policy = access_policy if isinstance(access_policy, AccessPolicy) else AccessPolicy(access_policy)
        self.embedder_key = embedder.key
        self.dimension = int(embedder.dimension)
        self.client = client if client is not None else connect(config)
        self.next_seq = 0  # the order chunks were added in (each point's "seq"), for all_chunks()

    # -- making and reopening ------------------------------------------------------

    @classmethod
    def build(cls, chunks: Sequence[Chunk], embedder, config: QdrantConfig = QdrantConfig(),
              access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None,
              vectors: np.ndarray | None = None) -> "QdrantIndex":
        """A new collection of ``chunks`` (embedded now, unless their ``vectors`` are given); a collection
        labkit made under the same name at that place is replaced (one it did not make is refused)."""
        check_unique_chunks(chunks)
        index = cls(embedder, config, access_policy)
        try:
            if stored_metadata(index.client, config) is not None:
                index.client.delete_collection(config.collection)
            index._create_collection()
            index._write(list(chunks), vectors)
        except BaseException:
            index.close()
            raise
        return index

    @classmethod
    def open(cls, config: QdrantConfig, embedder=None,
             access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None) -> "QdrantIndex":
        """The collection ``config`` names, as stored; a new empty one if there is none (then ``embedder``
        is required).

        ``embedder`` defaults to the one the collection was built with (loaded by its key); another one
        raises. ``access_policy`` defaults to the stored one.
        """
        client = connect(config)
        try:
            meta = stored_metadata(client, config)
            if meta is None and embedder is None:
                raise LabkitError(f"there is no collection at {config.where}, and no embedder to make one with",
                                  "pass embedder= to make a new one, or check the path or url and collection")
            if meta is None:
                index = cls(embedder, config, access_policy, client=client)
                index._create_collection()
                return index
            if embedder is None:
                embedder = Embedder(EmbedConfig(model=meta["embedder"]))
            if (embedder.key, int(embedder.dimension)) != (meta["embedder"], meta["dimension"]):
                raise LabkitError(
                    f"the collection at {config.where} was built with {meta['embedder']} ({meta['dimension']}-d "
                    f"vectors), not {embedder.key} ({embedder.dimension}-d): its vectors mean nothing to that "
                    f"model", f"open it with Embedder(EmbedConfig(model={meta['embedder']!r})), or rebuild it "
                    f"with {embedder.key} (QdrantIndex.build)")
            policy = access_policy if access_policy is not None else meta["access_policy"]
            index = cls(embedder, config, policy, client=client)
            index.next_seq = index._last_seq() + 1
            return index
        except BaseException:
            client.close()
            raise

    def _create_collection(self) -> None:
        from qdrant_client import models

        distance = {"dot": models.Distance.DOT, "cosine": models.Distance.COSINE}[self.config.distance]
        self.client.create_collection(
            self.config.collection, vectors_config=models.VectorParams(size=self.dimension, distance=distance),
            metadata={"format": FORMAT, "embedder": self.embedder_key, "dimension": self.dimension,
                      "access_policy": self.policy.to_json()})
        if self.config.url is not None:  # a server filters through payload indexes (local mode has none)
            for field, schema in (("access", models.PayloadSchemaType.KEYWORD),
                                  ("doc_id", models.PayloadSchemaType.KEYWORD),
                                  ("seq", models.PayloadSchemaType.INTEGER)):
                self.client.create_payload_index(self.config.collection, field, schema)

    def close(self) -> None:
        """Let go of the collection (local mode: unlocks the folder for the next process)."""
        self.client.close()

    def __enter__(self) -> "QdrantIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- updating --------------------------------------------------------------------

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray | None = None) -> None:
        """Replace every chunk of the documents in ``chunks`` by these (new documents are added)."""
        chunks = list(chunks)
        check_unique_chunks(chunks)
        if not chunks:
            return
        self._write(chunks, vectors)  # the new version first: a search never finds the document missing
        from qdrant_client import models

        stale = models.Filter(must=[match("doc_id", {c.doc_id for c in chunks})],
                              must_not=[models.HasIdCondition(has_id=[point_id(c) for c in chunks])])
        self.client.delete(self.config.collection, points_selector=models.FilterSelector(filter=stale))

    def delete_document(self, doc_id: str) -> int:
        """Remove every chunk of ``doc_id``; returns how many there were (0 if unknown)."""
        from qdrant_client import models

        of_doc = models.Filter(must=[match("doc_id", {doc_id})])
        count = self.client.count(self.config.collection, count_filter=of_doc, exact=True).count
        if count:
            self.client.delete(self.config.collection, points_selector=models.FilterSelector(filter=of_doc))
        return count

    def _write(self, chunks: list[Chunk], vectors: np.ndarray | None) -> None:
        from qdrant_client import models

        if not chunks:
            return
        vectors = chunk_vectors(self, chunks, vectors)
        for start in range(0, len(chunks), self.config.batch_size):
            batch = range(start, min(start + self.config.batch_size, len(chunks)))
            points = [models.PointStruct(id=point_id(chunks[i]), vector=vectors[i].tolist(),
                                         payload={**chunk_payload(chunks[i]), "seq": self.next_seq + i})
                      for i in batch]
            self.client.upsert(self.config.collection, points=points, wait=True)
        self.next_seq += len(chunks)

    def _last_seq(self) -> int:
        """The highest ``seq`` stored (-1 when empty): where a reopened index goes on counting."""
        from qdrant_client import models

        points, _ = self.client.scroll(self.config.collection, limit=1, with_payload=["seq"],
                                       order_by=models.OrderBy(key="seq", direction=models.Direction.DESC))
        return points[0].payload["seq"] if points else -1

    # -- searching -------------------------------------------------------------------

    def __len__(self) -> int:
        return self.client.count(self.config.collection, exact=True).count

    def all_chunks(self) -> list[Chunk]:
        """Every live chunk, in the order it was added."""
        stored, offset = [], None
        while True:
            points, offset = self.client.scroll(self.config.collection, limit=1024, offset=offset, with_payload=True)
            stored.extend(points)
            if offset is None:
                break
        return [payload_chunk(p.payload) for p in sorted(stored, key=lambda p: p.payload["seq"])]

    def search(self, query: str, k: int = 5, role: str | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``query`` that ``role`` may read, best first."""
        return self.search_vector(self.embedder.embed_query(query), k, role)

    def search_vector(self, vector: np.ndarray, k: int = 5, role: str | None = None) -> list[Hit]:
        """Like :meth:`search`, for a query already embedded (by the same embedder)."""
        vector = query_vector(self, vector, k)
        labels = self.policy.readable(role)
        if labels is not None and not labels:
            return []
        readable = None if labels is None else _readable_filter(labels)
        points = self._query(vector, k, readable, self.config.exact)
        if len(points) < k and not self.config.exact and self.config.url is not None:
            count = self.client.count(self.config.collection, count_filter=readable, exact=True).count
            if len(points) < min(k, count):  # the graph missed some: an exact search fills the list
                points = self._query(vector, k, readable, True)
        hits = [Hit(payload_chunk(p.payload), float(p.score)) for p in points]
        if any(labels is not None and h.chunk.access not in labels for h in hits):
            raise AssertionError("labkit bug: a search returned a chunk its role may not read")
        return hits

    def _query(self, vector: np.ndarray, k: int, readable, exact: bool) -> list:
        from qdrant_client import models

        params = models.SearchParams(exact=True) if exact and self.config.url is not None else None
        return self.client.query_points(self.config.collection, query=vector.tolist(), query_filter=readable,
                                        limit=k, with_payload=True, search_params=params).points


def connect(config: QdrantConfig):
    """A ``QdrantClient`` for ``config``'s place, or a :class:`LabkitError` that says why not."""
    from qdrant_client import QdrantClient

    if config.url is not None:
        client = QdrantClient(url=config.url, api_key=os.environ.get("QDRANT_API_KEY"), timeout=config.timeout,
                              check_compatibility=False)
        try:
            client.get_collections()
        except Exception as err:  # refused, unknown host, timeout, wrong key: the client raises several kinds
            client.close()
            raise LabkitError(f"cannot reach a Qdrant server at {config.url}: {type(err).__name__}: {err}",
                              "start it (docker run -p 6333:6333 qdrant/qdrant), check the host and port, "
                              "and set QDRANT_API_KEY if it needs one") from err
        return client
    if config.path is None:
        return QdrantClient(location=":memory:")
    try:
        return QdrantClient(path=str(Path(config.path)))
    except RuntimeError as err:
        if "already accessed" not in str(err):
            raise
        raise LabkitError(f"the Qdrant folder {config.path} is open in another index or process",
                          "close the other one first (index.close()), or use a Qdrant server for several "
                          "processes at once") from err


def stored_metadata(client, config: QdrantConfig) -> dict | None:
    """What labkit recorded on the collection ``config`` names (embedder, dimension, policy), None if there is
    no such collection; a collection labkit did not make raises, so that nothing overwrites it."""
    if not client.collection_exists(config.collection):
        return None
    meta = client.get_collection(config.collection).config.metadata or {}
    if meta.get("format") != FORMAT:
        raise LabkitError(f"the collection at {config.where} was not made by labkit",
                          "open one labkit built, or give this index another name (collection=)")
    return meta


def point_id(chunk: Chunk) -> str:
    """The chunk's point id in Qdrant: a UUID derived from its chunk id, the same on every machine.

    >>> point_id(Chunk("refunds#0", "refunds", 1, "public", 0, (), "Within 30 days.")) == point_id(
    ...     Chunk("refunds#0", "refunds", 2, "staff", 0, (), "Within 45 days."))
    True
    """
    return str(uuid.uuid5(POINT_NAMESPACE, chunk.chunk_id))


def chunk_payload(chunk: Chunk) -> dict:
    """The chunk as a Qdrant payload (JSON: the heading path becomes a list); :func:`payload_chunk` reverses it.

    >>> c = Chunk("refunds#0", "refunds", 2, "public", 0, ("Refunds", "Cards"), "Within 30 days.")
    >>> payload_chunk(chunk_payload(c)) == c
    True
    """
    return {**dataclasses.asdict(chunk), "heading_path": list(chunk.heading_path)}


def payload_chunk(payload: Mapping) -> Chunk:
    """The chunk a payload holds (its extra fields, such as ``seq``, are left out)."""
    fields = {name: payload[name] for name in CHUNK_FIELDS}
    return Chunk(**{**fields, "heading_path": tuple(fields["heading_path"])})


def match(field: str, values: Iterable[str]):
    """A Qdrant condition: the payload ``field`` is one of ``values``."""
    from qdrant_client import models

    return models.FieldCondition(key=field, match=models.MatchAny(any=sorted(values)))


def _readable_filter(labels: frozenset[str]):
    from qdrant_client import models

    return models.Filter(must=[match("access", labels)])


def open_index(spec: str, embedder, access_policy: AccessPolicy | Mapping[str, Iterable[str]] | None = None,
               collection: str = QdrantConfig.collection) -> VectorIndex | QdrantIndex:
    """The index a spec names, opened (Qdrant: as stored) or new and empty; fill it with ``upsert(chunks)``.

    ``"faiss"``: a FAISS flat index in memory; ``"qdrant:PATH"``: Qdrant's local mode in the folder PATH;
    ``"qdrant+http://HOST:PORT"`` (or ``https``): a Qdrant server. A malformed spec raises and names the forms.

    >>> from labkit.retrieval.embed import HashingEmbedder
    >>> type(open_index("faiss", HashingEmbedder())).__name__
    'VectorIndex'
    >>> open_index("qdrant+ftp://host", HashingEmbedder())
    Traceback (most recent call last):
    ...
    labkit.errors.LabkitError: index spec 'qdrant+ftp://host': a Qdrant server is reached over http or https
      fix: write it as 'faiss', 'qdrant:PATH' or 'qdrant+http://HOST:PORT'
    """
    config = parse_spec(spec, collection)
    if config is not None:
        return QdrantIndex.open(config, embedder, access_policy)
    if embedder is None:
        raise LabkitError("a new FAISS index needs an embedder", "pass embedder= (the one the chunks will use)")
    return VectorIndex(embedder, IndexConfig("flat"), access_policy)


def parse_spec(spec: str, collection: str = QdrantConfig.collection) -> QdrantConfig | None:
    """What an index spec says: None for ``"faiss"``, else the :class:`QdrantConfig` of the place it names.

    >>> parse_spec("qdrant:indexes/course").path
    'indexes/course'
    >>> parse_spec("qdrant+http://localhost:6333").url
    'http://localhost:6333'
    """
    def bad(problem: str) -> LabkitError:
        return LabkitError(f"index spec {spec!r}: {problem}", f"write it as {SPEC_FORMS}")

    if not isinstance(spec, str) or not spec.strip():
        raise bad("it is empty")
    spec = spec.strip()
    if spec == "faiss":
        return None
    if spec.startswith("qdrant:"):
        path = spec[len("qdrant:"):]
        if not path or path.startswith("//"):
            raise bad("no folder after 'qdrant:'" if not path else "a server URL needs 'qdrant+http://'")
        return QdrantConfig(path=path, collection=collection)
    if spec.startswith("qdrant+"):
        url = spec[len("qdrant+"):]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise bad("a Qdrant server is reached over http or https")
        if not parts.hostname:
            raise bad("no host in the URL")
        try:
            parts.port
        except ValueError:
            raise bad("the port is not a number from 0 to 65535") from None
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise bad("the URL has more than a host and a port")
        return QdrantConfig(url=url.rstrip("/"), collection=collection)
    raise bad("unknown kind of index")

