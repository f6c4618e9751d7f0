"""FAISS flat against Qdrant's local mode, side by side in one run; prints Markdown for docs/BENCHMARKS.md.

For each size (5,000 and 50,000 chunks) and each backend, in a fresh child process (so that memory is its own):
build time, then ms per query (median, k = 10) with no access policy (``role=None``) and as a role that may
read one of the four access labels (the filter inside the search), then the memory the index added: resident
set size after the build and the peak during it, above what the process held before (vectors included in
neither). Backends: FAISS flat (``VectorIndex``); Qdrant's local mode on disk in a temporary folder, as
``--index qdrant:PATH`` runs it; and the same local mode in memory. Local mode keeps every point in memory and
searches there either way; on disk it also writes each point to SQLite, one commit per point (5-20 ms a point
on this machine, by load), so the on-disk build runs only up to ``--disk-max`` chunks (at 50,000 it would take
4-15 minutes on its own).

The vectors are random unit vectors, 384-d (MiniLM's size), seeded: a timing, not a quality, benchmark (the
course-corpus recall parity is tests/test_qdrant.py). Chunks carry 600 characters of text each, about what a
128-token course chunk holds, because Qdrant stores the payload with every point.

    .venv/bin/python scripts/bench_vectordb.py                  # both sizes, about 3 minutes on 2 cores
    .venv/bin/python scripts/bench_vectordb.py --sizes 5000 --queries 50

Qdrant's local mode scores every point exactly and evaluates a payload filter in Python, point by point, so a
filtered query at 50,000 chunks takes about a second: queries stop after ``--budget`` seconds per column
(the table says how many were timed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_retrieval import VectorsOnly, fake_chunks, machine, unit_vectors  # noqa: E402
from labkit.retrieval.index import AccessPolicy, IndexConfig, VectorIndex  # noqa: E402
from labkit.retrieval.qdrant import QdrantConfig, QdrantIndex  # noqa: E402

POLICY = {"customer": ["public"], "admin": ["public", "staff", "finance", "security"]}
TEXT = 600  # characters of payload text per chunk
BACKENDS = ("faiss", "qdrant-disk", "qdrant-memory")
NAMES = {"faiss": "FAISS flat", "qdrant-disk": "Qdrant local, disk", "qdrant-memory": "Qdrant local, memory"}


def median_query_ms(search, queries: np.ndarray, budget_s: float) -> tuple[float, int]:
    """Median ms of ``search(query)`` over ``queries``, stopping once ``budget_s`` is spent; (ms, queries timed)."""
    search(queries[0])  # warm up
    times, started = [], time.perf_counter()
    for query in queries:
        start = time.perf_counter()
        search(query)
        times.append(time.perf_counter() - start)
        if time.perf_counter() - started > budget_s:
            break
    return 1000 * statistics.median(times), len(times)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def run_case(backend: str, size: int, n_queries: int, budget_s: float) -> dict:
    """One backend at one size, in this process: build, query, memory."""
    import faiss  # noqa: F401  (both libraries loaded before the clock and the memory baseline start)
    import qdrant_client  # noqa: F401

    rng = np.random.default_rng(0)
    vectors, queries = unit_vectors(size, rng, "random", n_queries)
    chunks = [dataclasses.replace(c, text=c.text.ljust(TEXT, ".")) for c in fake_chunks(size)]
    with tempfile.TemporaryDirectory() as folder:
        before = rss_mb()
        start = time.perf_counter()
        if backend == "faiss":
            index = VectorIndex.build(chunks, VectorsOnly(), IndexConfig("flat"), POLICY, vectors=vectors)
        else:
            config = QdrantConfig(path=folder if backend == "qdrant-disk" else None)
            index = QdrantIndex.build(chunks, VectorsOnly(), config, POLICY, vectors=vectors)
        build_s = time.perf_counter() - start
        added = rss_mb() - before
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
        disk = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20
        filtered = median_query_ms(lambda q: index.search_vector(q, 10, "customer"), queries, budget_s)
        index.policy = AccessPolicy(None)  # the same index, searched with no access control
        unfiltered = median_query_ms(lambda q: index.search_vector(q, 10, None), queries, budget_s)
        assert len(index) == size
        if backend != "faiss":
            index.close()
    return {"backend": backend, "size": size, "build_s": build_s, "unfiltered": unfiltered, "filtered": filtered,
            "rss_added_mb": added, "peak_added_mb": peak, "disk_mb": disk}


def table(rows: list[dict]) -> list[str]:
    lines = ["| chunks | backend | build s | ms/query, no policy | ms/query, role reads 1 of 4 labels "
             "| RSS added MB | peak added MB | on disk MB |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        cells = [f"{r['size']:,}", NAMES[r["backend"]], f"{r['build_s']:.1f}"]
        cells += [f"{r[col][0]:.2f} ({r[col][1]} q)" for col in ("unfiltered", "filtered")]
        cells += [f"{r['rss_added_mb']:.0f}", f"{r['peak_added_mb']:.0f}",
                  f"{r['disk_mb']:.0f}" if r["backend"] == "qdrant-disk" else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,50000", help="chunk counts, comma-separated")
    parser.add_argument("--queries", type=int, default=200, help="queries per column (k = 10)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds at most per column of queries")
    parser.add_argument("--disk-max", type=int, default=5000, help="largest size built by Qdrant on disk")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # "backend,size": run one case here, print JSON
    args = parser.parse_args(argv)
    if args.case:
        backend, size = args.case.split(",")
        print(json.dumps(run_case(backend, int(size), args.queries, args.budget)))
        return 0
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for backend in BACKENDS:
            if backend == "qdrant-disk" and size > args.disk_max:
                continue
            out = subprocess.run([sys.executable, __file__, "--case", f"{backend},{size}", "--queries",
                                  str(args.queries), "--budget", str(args.budget)],
                                 capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(f"done: {backend} at {size:,}", file=sys.stderr)
    print(f"{date.today()}, {machine()}\n")
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
