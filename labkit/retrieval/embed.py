"""Turn texts into normalized vectors, in batches, with an on-disk cache.

:class:`Embedder` wraps a sentence-transformers model (the profile's embedder by
default: all-MiniLM-L6-v2, 384 dimensions). Vectors have length 1, so the inner
product of two of them is their cosine similarity.

- Input is ``str`` only. ``bytes`` (or a ``str`` holding undecodable bytes, as
  ``errors="surrogateescape"`` makes) raise a :class:`LabkitError` saying which text
  and how to decode it: the kit never guesses an encoding silently.
- The model reads at most ``max_seq_length`` word pieces (256 for MiniLM) and
  drops the rest; the first time that happens the embedder says so once.
  :func:`count_truncated` counts exactly how many texts lose words.
- With ``EmbedConfig(cache_dir=...)`` every vector is stored under
  ``cache_dir/<model key>/`` keyed by the sha256 of its text; a text seen before is
  never encoded again. Each batch of new vectors lands as one ``shard-*.npz``
  written aside and renamed into place, so an interrupted run leaves only whole
  shards, and the next run resumes where it stopped.
- Texts are sorted by length and sent to the model in groups, so padding is small
  and throughput matches calling sentence-transformers directly.

>>> embedder = Embedder(EmbedConfig(model="minilm-l6"))
>>> embedder.embed(["refund policy", "opening hours"]).shape
(2, 384)
>>> toy = HashingEmbedder(dimension=8)
>>> vectors = toy.embed(["red apple", "red apple", "blue sky"])
>>> round(float(vectors[0] @ vectors[1]), 3), round(float(vectors[0] @ vectors[2]), 3)
(1.0, 0.0)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from labkit.errors import LabkitError, require_text
from labkit.models import load_embedder
from labkit.runtime import get_profile, progress_off, say_once


@dataclass(frozen=True)
class EmbedConfig:
    """Which model, how many texts per forward pass, and where to cache (None: no cache)."""

    model: str | None = None  # a key of labkit.models.MODELS; None: the profile's embedder
    batch_size: int = 32
    cache_dir: Path | str | None = None
    progress: bool = True
    device: str | None = None  # None: labkit.runtime.pick_device()


@dataclass
class EmbedStats:
    """What the last :meth:`Embedder.embed` call did."""

    texts: int = 0
    from_cache: int = 0
    encoded: int = 0
    seconds: float = 0.0

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.seconds if self.seconds else float("inf")


def text_key(text: str, position: int = 0) -> str:
    """The sha256 of a text's UTF-8 bytes: its name in the cache.

    >>> text_key("hello")[:12]
    '2cf24dba5fb0'
    """
    require_text(text, f"text {position}")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise LabkitError(
            f"text {position} holds characters that are not valid Unicode ({exc.reason} at {exc.start}), "
            "typically bytes decoded with errors='surrogateescape'",
            "decode the source with errors='replace' (damaged bytes become \ufffd) or fix its encoding",
        ) from None
    return hashlib.sha256(data).hexdigest()


class EmbeddingCache:
    """Vectors on disk, one folder per model, keyed by text sha256.

    >>> import tempfile
    >>> cache = EmbeddingCache(tempfile.mkdtemp(), dimension=2)
    >>> cache.put(["k1"], np.array([[0.6, 0.8]], dtype=np.float32))
    >>> EmbeddingCache(cache.folder, dimension=2).get("k1")
    array([0.6, 0.8], dtype=float32)
    """

    def __init__(self, folder: Path | str, dimension: int):
        self.folder = Path(folder)
        self.dimension = dimension
        self._vectors: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            for shard in sorted(self.folder.glob("shard-*.npz")):
                try:
                    with np.load(shard) as data:
                        keys, vectors = data["keys"], data["vectors"]
                    if vectors.shape != (len(keys), self.dimension):
                        raise ValueError(f"shape {vectors.shape}")
                except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                    say_once(f"labkit: ignoring a damaged embedding cache file {shard} ({exc}); "
                             "its vectors will be computed again")
                    continue
                self._vectors.update(zip(keys.astype(str), vectors))
        return self._vectors

    def get(self, key: str) -> np.ndarray | None:
        return self._load().get(key)

    def __len__(self) -> int:
        return len(self._load())

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors as one new shard: written aside, then renamed into place."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = "shard-" + hashlib.sha256("".join(keys).encode()).hexdigest()[:20] + ".npz"
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, keys=np.array(keys, dtype="S64"), vectors=vectors.astype(np.float32))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.folder / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._load().update(zip(keys, vectors))


class Embedder:
    """A sentence-transformers model that returns normalized float32 vectors.

    ``model`` lets you pass an already loaded SentenceTransformer (its key is then
    ``config.model``, which should name it).

    >>> embedder = Embedder()
    >>> embedder.key, embedder.dimension, embedder.max_tokens
    ('minilm-l6', 384, 256)
    """

    group_batches = 16  # batches sent to the model per call: one progress step, one cache shard

    def __init__(self, config: EmbedConfig = EmbedConfig(), model=None):
        self.config = config
        self.key = config.model or get_profile().embedder
        if model is None:
            model = load_embedder(self.key, device=config.device)
        self.model = model
        self.dimension = int(model.get_embedding_dimension())
        self.max_tokens = int(model.max_seq_length)
        self.cache = (EmbeddingCache(Path(config.cache_dir) / self.key, self.dimension)
                      if config.cache_dir is not None else None)
        self.last_stats = EmbedStats()

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``, shape ``(len(texts), dimension)``, each of length 1.

        Identical texts are encoded once; cached ones are not encoded at all.
        """
        from tqdm.auto import tqdm

        start = time.perf_counter()
        texts = list(texts)
        keys = [text_key(t, i) for i, t in enumerate(texts)]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        todo: dict[str, list[int]] = {}  # key -> rows that need it
        for row, key in enumerate(keys):
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is None:
                todo.setdefault(key, []).append(row)
            else:
                out[row] = cached
        order = sorted(todo, key=lambda k: -len(texts[todo[k][0]]))  # longest first, like sentence-transformers
        self._warn_if_truncated([texts[todo[k][0]] for k in order[: self.config.batch_size]])
        group = self.config.batch_size * self.group_batches
        with tqdm(total=len(order), desc=f"embedding ({self.key})", unit="text",
                  disable=progress_off() or not self.config.progress or len(order) <= group) as bar:
            for first in range(0, len(order), group):
                batch_keys = order[first:first + group]
                vectors = self.model.encode([texts[todo[k][0]] for k in batch_keys],
                                            batch_size=self.config.batch_size, normalize_embeddings=True,
                                            convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
                for key, vector in zip(batch_keys, vectors):
                    out[todo[key]] = vector
                if self.cache is not None:
                    self.cache.put(batch_keys, vectors)
                bar.update(len(batch_keys))
        self.last_stats = EmbedStats(len(texts), len(texts) - sum(map(len, todo.values())),
                                     len(order), time.perf_counter() - start)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """One vector for one query (no cache, no progress bar), shape ``(dimension,)``."""
        text_key(text)
        return self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)[0].astype(np.float32)

    def _warn_if_truncated(self, longest: list[str]) -> None:
        """Check the longest texts (cheap) and say once that the model drops words past its window."""
        if longest and count_truncated(longest, self) > 0:
            say_once(f"labkit: some texts are longer than {self.key}'s window of {self.max_tokens} word "
                     f"pieces; the model reads only their first {self.max_tokens} and ignores the rest. "
                     "Chunk long documents (labkit.retrieval.chunk) to embed all of their text.")


def count_truncated(texts: Sequence[str], embedder: Embedder) -> int:
    """How many ``texts`` are longer than the embedder's window (their ends are not embedded).

    >>> count_truncated(["short", "long " * 400], Embedder())
    1
    """
    limit = embedder.max_tokens
    long_enough = [t for t in texts if len(t) > limit - 2]  # a word piece covers at least one character
    if not long_enough:
        return 0
    ids = embedder.tokenizer(long_enough, add_special_tokens=True, verbose=False)["input_ids"]
    return sum(len(i) > limit for i in ids)


class HashingEmbedder:
    """A model-free embedder: words hashed into ``dimension`` buckets, then normalized.

    It has the same interface as :class:`Embedder` (``key``, ``dimension``,
    ``embed``, ``embed_query``) and knows nothing about meaning: only shared words
    make texts similar. Use it to see what an embedder's job is, and in fast tests.

    >>> e = HashingEmbedder(dimension=16)
    >>> float(e.embed_query("Hello world") @ e.embed_query("hello WORLD")) > 0.99
    True
    """

    max_tokens = 10**9

    def __init__(self, dimension: int = 64):
        self.dimension = dimension
        self.key = f"hashing-{dimension}"
        self.last_stats = EmbedStats()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        start = time.perf_counter()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            text_key(text, row)
            for word in text.lower().split():
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, bucket % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        self.last_stats = EmbedStats(len(texts), 0, len(texts), time.perf_counter() - start)
        return out / np.where(norms == 0, 1.0, norms)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
