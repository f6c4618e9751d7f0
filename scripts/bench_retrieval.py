"""Speed of the retrieval stack, in one run; prints Markdown for docs/BENCHMARKS.md.

1. encoding throughput: labkit.retrieval.embed.Embedder vs sentence-transformers called directly,
   on the same texts (SciFact abstracts when the folder is there, else course-like texts);
2. search: flat (exact) ms per single query at several sizes, then HNSW and IVF
   recall@10 against ms/query at 50,000 chunks (random and low-rank synthetic vectors) and
   on the real SciFact MiniLM vectors;
3. updates: upsert one changed document (5 chunks) into a 50,000-chunk index and search it;
4. optionally (--scifact), the BEIR SciFact benchmark for dense, bm25 and hybrid.

    .venv/bin/python scripts/bench_retrieval.py                    # 1-3, about 10 minutes on 2 cores
    .venv/bin/python scripts/bench_retrieval.py --skip-encoding --scifact ../shared/external/scifact

Timings are medians over repeated queries; encoding is the best of ``--rounds``
interleaved runs (labkit then sentence-transformers, then the other way round), so
that other load on the machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labkit.retrieval.chunk import Chunk  # noqa: E402
from labkit.retrieval.index import IndexConfig, VectorIndex, faiss_threads  # noqa: E402

DIM = 384


class VectorsOnly:
    """A stand-in embedder for indexes fed with ready-made vectors."""

    key, dimension = "random-384", DIM

    def embed(self, texts):
        raise RuntimeError("this benchmark passes vectors")


def machine() -> str:
    model = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    import faiss
    import torch

    from labkit.runtime import quiet_import

    sentence_transformers = quiet_import("sentence_transformers")
    return (f"{model}, {os.cpu_count()} cores; Python {platform.python_version()}, torch {torch.__version__}, "
            f"sentence-transformers {sentence_transformers.__version__}, faiss {faiss.__version__}")


def unit_vectors(n: int, rng: np.random.Generator, kind: str = "random", n_queries: int = 0):
    """``n`` unit vectors (and ``n_queries`` more from the same distribution, if asked).

    "random": isotropic in 384-d, the worst case for approximate search. "low-rank":
    like real sentence embeddings, most of the variance lies in a few dozen directions:
    200 topics in a 32-d space mapped into 384-d, plus 384-d noise half as long; the
    spread is chosen so that at 5,183 vectors the recall curves come close to those of
    the real SciFact MiniLM vectors (both are in the table).
    """
    total = n + n_queries
    if kind == "random":
        x = rng.standard_normal((total, DIM)).astype(np.float32)
    else:
        latent_dim, topics, spread, noise_ratio = 32, 200, 1.1, 0.5
        basis = rng.standard_normal((latent_dim, DIM)).astype(np.float32) / np.sqrt(latent_dim)
        centres = rng.standard_normal((topics, latent_dim)).astype(np.float32)
        latent = centres[rng.integers(0, topics, total)] + spread * rng.standard_normal((total, latent_dim))
        signal = latent.astype(np.float32) @ basis
        noise = rng.standard_normal((total, DIM)).astype(np.float32)
        lengths = np.linalg.norm(signal, axis=1, keepdims=True) / np.linalg.norm(noise, axis=1, keepdims=True)
        noise *= noise_ratio * lengths
        x = signal + noise
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return (x[:n], x[n:]) if n_queries else x


def scifact_vectors(folder: Path):
    """The real SciFact document and test-query vectors (from the embedding cache, else encoded)."""
    from labkit.retrieval.beir import load_beir
    from labkit.retrieval.embed import EmbedConfig, Embedder
    from labkit.runtime import cache_dir

    data = load_beir(folder, verify=False)
    embedder = Embedder(EmbedConfig("minilm-l6", cache_dir=cache_dir() / "embeddings"))
    docs = embedder.embed([(d.title + " " + d.text).strip() for d in data.corpus])
    return docs, embedder.embed(list(data.queries.values()))


def fake_chunks(n: int, labels=("public", "staff", "finance", "security"), per_doc: int = 5) -> list[Chunk]:
    return [Chunk(f"doc{i // per_doc}#{i % per_doc}", f"doc{i // per_doc}", 1, labels[(i // per_doc) % len(labels)],
                  i % per_doc, (), f"chunk {i}") for i in range(n)]


def median_ms(fn, queries: np.ndarray) -> float:
    for q in queries[:5]:
        fn(q)  # warm up
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


# ---------------------------------------------------------------------------


def bench_encoding(n_texts: int, rounds: int, scifact: Path | None) -> list[str]:
    from labkit.models import load_embedder
    from labkit.retrieval.embed import EmbedConfig, Embedder

    if scifact and (scifact / "corpus.jsonl").exists():
        with open(scifact / "corpus.jsonl", encoding="utf-8") as f:
            rows = [json.loads(line) for _, line in zip(range(n_texts), f)]
        texts, source = [(r["title"] + " " + r["text"]).strip() for r in rows], f"the first {n_texts} SciFact abstracts"
    else:
        rng = np.random.default_rng(0)
        words = "refund router firmware warehouse invoice policy ticket customer price stock update".split()
        texts = [" ".join(rng.choice(words, rng.integers(20, 200))) for _ in range(n_texts)]
        source = f"{n_texts} synthetic course-like texts"
    model = load_embedder("minilm-l6", device="cpu")
    embedder = Embedder(EmbedConfig("minilm-l6", batch_size=32, cache_dir=None, progress=False), model=model)
    model.encode(texts[:64], batch_size=32)  # warm up
    encode, inside = model.encode, [0.0]

    def timed_encode(*args, **kwargs):  # how much of labkit's time is sentence-transformers' own
        start = time.perf_counter()
        try:
            return encode(*args, **kwargs)
        finally:
            inside[0] += time.perf_counter() - start

    def labkit_run():
        inside[0] = 0.0
        model.encode = timed_encode
        try:
            return embedder.embed(texts)
        finally:
            model.encode = encode

    overheads: list[float] = []  # labkit's seconds outside model.encode, per run
    runs = {"labkit": labkit_run,
            "sentence-transformers": lambda: model.encode(texts, batch_size=32, normalize_embeddings=True,
                                                          show_progress_bar=False)}
    best, vectors = {name: float("inf") for name in runs}, {}
    for round_ in range(rounds):  # A B, then B A: neither side always runs first
        for name in (list(runs) if round_ % 2 == 0 else list(runs)[::-1]):
            start = time.perf_counter()
            vectors[name] = runs[name]()
            best[name] = min(best[name], time.perf_counter() - start)
            if name == "labkit":
                overheads.append(time.perf_counter() - start - inside[0])
    ours, theirs = vectors["labkit"], vectors["sentence-transformers"]
    same = float(np.abs(ours - theirs).max())
    short = [f"Chunk {i}: the refund window for the pro plan is 30 days from the invoice date." for i in range(5)]
    query_ms = median_ms(lambda t: embedder.embed_query(str(t)), np.array([f"refund window {i}" for i in range(30)]))
    chunks_ms = median_ms(lambda t: embedder.embed([c + str(t) for c in short]), np.arange(10))
    ratio = best["labkit"] / best["sentence-transformers"]
    lines = [f"### Encoding throughput ({source}, all-MiniLM-L6-v2, batch 32, best of {rounds})", "",
             "| encoder | seconds | texts/s |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {s:.1f} | {n_texts / s:.1f} |" for name, s in best.items()]
    lines += ["", f"labkit / sentence-transformers time: {ratio:.3f} (target <= 1.10); "
              f"largest difference between their vectors: {same:.1e}. labkit's own work outside "
              f"`encode` (hashing, sorting, cache lookups, the truncation check): {1000 * min(overheads):.0f} ms.",
              f"One query: {query_ms:.1f} ms to embed; five short chunks (one changed document): "
              f"{chunks_ms:.0f} ms.", ""]
    return lines


def bench_search(size: int, rng: np.random.Generator) -> list[str]:
    import faiss

    lines = ["### Flat (exact) search, one query at a time", "",
             "Random unit vectors, 384-d, k=10; median of 300 queries. `faiss` columns call the FAISS index "
             "directly with 1 or all OpenMP threads; `labkit` is `VectorIndex.search_vector` (query already "
             "embedded, default `search_threads=1`); `+ role` filters to 2 of 4 labels inside FAISS "
             "(IDSelectorBitmap).", "",
             f"| chunks | faiss, 1 thread | faiss, {faiss.omp_get_max_threads()} threads | labkit | labkit + role |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    policy = {"agent": {"public", "staff"}}
    for n in sorted({5_000, 10_000, 25_000, size, 2 * size}):
        x, q = unit_vectors(n, rng, "random", 300)
        filtered = VectorIndex.build(fake_chunks(n), VectorsOnly(), access_policy=policy, vectors=x)
        plain = VectorIndex.build(fake_chunks(n), VectorsOnly(), vectors=x)
        row = []
        for threads in (1, None):
            with faiss_threads(threads):
                row.append(median_ms(lambda v: plain.faiss.search(v[None], 10), q))
        row.append(median_ms(lambda v: plain.search_vector(v, 10), q))
        row.append(median_ms(lambda v: filtered.search_vector(v, 10, role="agent"), q))
        lines.append(f"| {n:,} | " + " | ".join(f"{ms:.2f} ms" for ms in row) + " |")
    return lines + [""]


def bench_approximate(size: int, rng: np.random.Generator, scifact: Path | None) -> list[str]:
    lines = ["### Approximate indexes: recall@10 against exact search, ms per query", "",
             "HNSW: M=32, efConstruction=80. IVF: 4·sqrt(n) lists (at most n/39). Median of 300 single queries "
             "through `VectorIndex.search_vector`.", "",
             "| data | chunks | index | setting | build s | recall@10 | ms/query |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: |"]
    datasets = [("random", *unit_vectors(size, rng, "random", 300)),
                ("low-rank", *unit_vectors(5183, rng, "low-rank", 300)),
                ("low-rank", *unit_vectors(size, rng, "low-rank", 300))]
    if scifact and (scifact / "corpus.jsonl").exists():
        datasets.append(("SciFact MiniLM (real)", *scifact_vectors(scifact)))
    for name, x, q in datasets:
        n = len(x)
        chunks = fake_chunks(n)
        timed = {}
        for config in (IndexConfig("flat"), IndexConfig("hnsw"), IndexConfig("ivf", seed=0)):
            start = time.perf_counter()
            index = VectorIndex.build(chunks, VectorsOnly(), config, vectors=x)
            timed[config.kind] = (index, time.perf_counter() - start)
        flat, flat_s = timed["flat"]
        truth = [{h.chunk.chunk_id for h in flat.search_vector(v, 10)} for v in q]
        lists = timed["ivf"][0].faiss.nlist
        settings = ([("flat", "exact", {})]
                    + [("hnsw", f"efSearch={ef}", {"hnsw_ef_search": ef}) for ef in (16, 32, 64, 128, 256)]
                    + [("ivf", f"nprobe={p} of {lists}", {"ivf_probes": p}) for p in (1, 4, 16, 64)])
        for kind, label, change in settings:
            index, build_s = timed[kind]
            index.config = IndexConfig(kind, **change)
            found = [{h.chunk.chunk_id for h in index.search_vector(v, 10)} for v in q]
            recall = np.mean([len(f & t) / 10 for f, t in zip(found, truth)])
            ms = median_ms(lambda v: index.search_vector(v, 10), q)
            lines.append(f"| {name} | {n:,} | {kind} | {label} | {build_s:.1f} | {recall:.3f} | {ms:.2f} |")
    return lines + [""]


def bench_upsert(size: int, rng: np.random.Generator) -> list[str]:
    lines = [f"### Re-indexing one changed document (5 chunks) in a {size:,}-chunk index", "",
             "Index work only: remove the old chunks, add the new vectors, then one search (as the role `agent`, "
             "whose readable-id mask is rebuilt after the change). Median of 20 updates.", "",
             "| index | upsert ms | first search after it ms | total ms |", "| --- | ---: | ---: | ---: |"]
    x = unit_vectors(size, rng, "low-rank")
    chunks = fake_chunks(size)
    policy = {"agent": {"public", "staff"}}
    for config in (IndexConfig("flat"), IndexConfig("hnsw"), IndexConfig("ivf")):
        index = VectorIndex.build(chunks, VectorsOnly(), config, access_policy=policy, vectors=x)
        upserts, searches = [], []
        for step in range(20):
            doc = f"doc{rng.integers(0, size // 5)}"
            new = [Chunk(f"{doc}#{i}", doc, 2 + step, "public", i, (), f"v{step}") for i in range(5)]
            vectors = unit_vectors(5, rng, "random")
            start = time.perf_counter()
            index.upsert(new, vectors)
            upserts.append(time.perf_counter() - start)
            start = time.perf_counter()
            hits = index.search_vector(vectors[0], 10, role="agent")
            searches.append(time.perf_counter() - start)
            assert hits[0].chunk.doc_id == doc
        u, s = 1000 * statistics.median(upserts), 1000 * statistics.median(searches)
        lines.append(f"| {config.kind} | {u:.1f} | {s:.1f} | {u + s:.1f} |")
    return lines + ["", "(Embedding the 5 new chunks with MiniLM comes on top: see the encoding section.)", ""]


def bench_scifact(folder: Path) -> list[str]:
    from labkit.retrieval.beir import BenchConfig, format_results, run_benchmark
    from labkit.retrieval.embed import EmbedConfig, Embedder
    from labkit.runtime import cache_dir

    config = BenchConfig(cache_dir=cache_dir() / "embeddings")
    embedder = Embedder(EmbedConfig(config.model, config.batch_size, config.cache_dir))
    results = [run_benchmark(folder, m, config, embedder=embedder) for m in ("dense", "bm25", "hybrid")]
    return ["### BEIR SciFact (test split)", "", "```", format_results(results), "```", "",
            "```json", json.dumps(results, indent=1), "```", ""]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=2000, help="texts for the encoding comparison")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--size", type=int, default=50_000, help="chunks in the search and update benchmarks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-encoding", action="store_true")
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--only", choices=["encoding", "flat", "approximate", "upsert"],
                        help="run one section only")
    parser.add_argument("--scifact", type=Path, help="also run the SciFact benchmark from this BEIR folder")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    default_scifact = ROOT.parent / "shared/external/scifact"
    print(f"## Retrieval benchmarks\n\nMachine: {machine()}\n")
    print(f"Command: `{' '.join(['python', 'scripts/bench_retrieval.py', *(argv or sys.argv[1:])])}`\n", flush=True)
    sections = {"encoding": lambda: bench_encoding(args.texts, args.rounds, args.scifact or default_scifact),
                "flat": lambda: bench_search(args.size, rng),
                "approximate": lambda: bench_approximate(args.size, rng, args.scifact or default_scifact),
                "upsert": lambda: bench_upsert(args.size, rng)}
    if args.skip_encoding:
        del sections["encoding"]
    if args.skip_search:
        for name in ("flat", "approximate", "upsert"):
            del sections[name]
    if args.only:
        sections = {args.only: sections[args.only]}
    if args.scifact:
        sections["scifact"] = lambda: bench_scifact(args.scifact)
    sections = list(sections.values())
    for section in sections:
        print("\n".join(section()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
