"""labkit.retrieval.embed: normalized vectors, the on-disk cache, and the inputs it refuses."""

import numpy as np
import pytest

from labkit.retrieval.embed import EmbedConfig, Embedder, EmbeddingCache, HashingEmbedder, count_truncated, text_key
from labkit.errors import LabkitError

TEXTS = ["The refund window is 30 days.", "Refunds take thirty days.", "The office opens at nine.",
         "A much longer text about warehouse stock levels, firmware versions and prices " * 3, "Hi"]


@pytest.fixture(scope="module")
def model():
    from labkit.models import load_embedder

    return load_embedder("minilm-l6", device="cpu")


def make(model, cache_dir=None, batch_size=2):
    return Embedder(EmbedConfig("minilm-l6", batch_size, cache_dir, progress=False), model=model)


def test_vectors_are_normalized_and_match_sentence_transformers(model):
    vectors = make(model).embed(TEXTS)
    direct = model.encode(TEXTS, normalize_embeddings=True)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, direct, atol=1e-5)  # length sorting must not shuffle rows


def test_meaning_beats_word_overlap(model):
    v = make(model).embed(TEXTS[:3])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_embed_query_equals_embed(model):
    embedder = make(model)
    np.testing.assert_allclose(embedder.embed_query(TEXTS[0]), embedder.embed([TEXTS[0]])[0], atol=1e-5)


def test_duplicates_are_encoded_once(model):
    embedder = make(model)
    vectors = embedder.embed([TEXTS[0], TEXTS[1], TEXTS[0]])
    assert embedder.last_stats.encoded == 2
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert embedder.embed([]).shape == (0, 384)


def test_cache_is_reused_across_embedders_and_leaves_no_temporaries(model, tmp_path):
    first = make(model, tmp_path)
    expected = first.embed(TEXTS)
    assert first.last_stats.encoded == len(TEXTS)
    shards = list((tmp_path / "minilm-l6").glob("shard-*.npz"))
    assert len(shards) == 1 and not list((tmp_path / "minilm-l6").glob(".tmp-*"))

    second = make(model, tmp_path)
    again = second.embed(TEXTS[::-1] + ["a new text"])
    assert second.last_stats.from_cache == len(TEXTS) and second.last_stats.encoded == 1
    np.testing.assert_array_equal(again[: len(TEXTS)], expected[::-1])


def test_a_damaged_shard_is_ignored_and_recomputed(model, tmp_path, monkeypatch):
    said = []
    monkeypatch.setattr("labkit.retrieval.embed.say_once", said.append)
    make(model, tmp_path).embed(TEXTS[:2])
    shard = next((tmp_path / "minilm-l6").glob("shard-*.npz"))
    shard.write_bytes(shard.read_bytes()[:40])  # truncated, as a crash outside labkit might leave it
    (tmp_path / "minilm-l6" / ".tmp-abc.npz").write_bytes(b"half")  # an interrupted write: ignored
    embedder = make(model, tmp_path)
    vectors = embedder.embed(TEXTS[:2])
    assert embedder.last_stats.encoded == 2 and any("damaged" in s for s in said)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_cache_keys_by_text_and_model(tmp_path):
    cache = EmbeddingCache(tmp_path / "m", dimension=3)
    cache.put([text_key("a")], np.array([[1, 0, 0]], dtype=np.float32))
    assert EmbeddingCache(tmp_path / "m", 3).get(text_key("a")) is not None
    assert EmbeddingCache(tmp_path / "other-model", 3).get(text_key("a")) is None
    assert EmbeddingCache(tmp_path / "m", 3).get(text_key("b")) is None


def test_bytes_and_undecodable_text_are_refused():
    embedder = HashingEmbedder()
    with pytest.raises(LabkitError, match="text 1 is bytes") as err:
        embedder.embed(["fine", b"caf\xe9"])
    assert "decode" in err.value.fix
    broken = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    with pytest.raises(LabkitError, match="not valid Unicode"):
        embedder.embed([broken])
    with pytest.raises(LabkitError, match="not str"):
        embedder.embed([42])
    # decoding with errors="replace" is the documented way through
    assert embedder.embed([b"caf\xe9".decode("utf-8", errors="replace")]).shape == (1, 64)


def test_long_texts_are_counted_and_announced_once(model, monkeypatch):
    said = []
    monkeypatch.setattr("labkit.retrieval.embed.say_once", said.append)
    embedder = make(model)
    long_text = "retrieval " * 400
    assert count_truncated(["short", long_text, "x" * 300], embedder) == 1
    embedder.embed(["short", long_text])
    assert len(said) == 1 and "256 word pieces" in said[0]
    said.clear()
    embedder.embed(["short", "also short"])
    assert said == []


def test_hashing_embedder_is_deterministic_and_normalized():
    a, b = HashingEmbedder(32), HashingEmbedder(32)
    va, vb = a.embed(["red apple", "", "blue sky"]), b.embed(["red apple", "", "blue sky"])
    np.testing.assert_array_equal(va, vb)
    assert np.allclose(np.linalg.norm(va[[0, 2]], axis=1), 1.0) and not va[1].any()
