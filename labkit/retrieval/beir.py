"""Load a BEIR-format data set and measure retrieval on it, as published papers do.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``,
with a header line). When a ``SHA256SUMS`` file is there, every file it lists is
checked first.

:func:`run_benchmark` embeds each document whole as ``title + " " + text`` (the
BEIR convention: the embedder keeps only its first 256 word pieces), searches every
query of the split, and returns nDCG@10, Recall@100 and MRR@10 with the speeds:
documents encoded per second and milliseconds of search per query. With an
embedding cache (``BenchConfig(cache_dir=...)``) a second run, or another method,
reuses the vectors instead of encoding again.

>>> import tempfile
>>> tiny = Path(tempfile.mkdtemp())
>>> _ = (tiny / "corpus.jsonl").write_text('{"_id": "d1", "title": "Refunds", "text": "Refunds take 30 days."}\\n'
...                                        '{"_id": "d2", "title": "Hours", "text": "We open at nine."}\\n')
>>> _ = (tiny / "queries.jsonl").write_text('{"_id": "q1", "text": "how long do refunds take"}\\n')
>>> (tiny / "qrels").mkdir(); _ = (tiny / "qrels" / "test.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t1\\n")
>>> result = run_benchmark(tiny, method="bm25", config=BenchConfig(progress=False))
>>> result["documents"], result["queries"], result["ndcg@10"]
(2, 1, 1.0)

On SciFact (``../shared/external/scifact``, 5,183 abstracts) this takes minutes; the published nDCG@10 of
all-MiniLM-L6-v2 is 0.645 (tests/test_beir.py checks it):

>>> result = run_benchmark("../shared/external/scifact", method="dense")   # doctest: +SKIP
>>> round(result["ndcg@10"], 3)                                             # doctest: +SKIP
0.645
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from labkit.errors import LabkitError
from labkit.retrieval.chunk import chunk_whole
from labkit.retrieval.embed import EmbedConfig, Embedder
from labkit.retrieval.index import Hit, VectorIndex
from labkit.retrieval.lexical import BM25Config, BM25Index, HybridConfig, HybridRetriever
from labkit.retrieval.metrics import evaluate_run
from labkit.runtime import cache_dir, progress_off
from labkit.storage import read_sha256sums, sha256_of

METHODS = ("dense", "bm25", "hybrid")


@dataclass(frozen=True)
class BeirDocument:
    """One corpus entry; has the attributes labkit.retrieval.chunk needs (everything is public)."""

    doc_id: str
    title: str
    text: str
    access: str = "public"
    doc_version: int = 1


@dataclass
class BeirData:
    name: str
    corpus: list[BeirDocument]
    queries: dict[str, str]  # query id -> text, only queries judged in the split
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: grade}


@dataclass(frozen=True)
class BenchConfig:
    """What :func:`run_benchmark` uses besides the method."""

    model: str = "minilm-l6"
    batch_size: int = 32
    cache_dir: Path | str | None = None  # embedding cache; None: encode every time
    split: str = "test"
    k: int = 100  # results per query (Recall@100 needs 100)
    bm25: BM25Config = field(default_factory=BM25Config)
    hybrid: HybridConfig = field(default_factory=HybridConfig)
    progress: bool = True


def verify_checksums(folder: Path | str) -> list[str]:
    """Check every file listed in ``folder/SHA256SUMS``; return their names ([] without the file).

    >>> verify_checksums("/nonexistent")
    []
    """
    folder = Path(folder)
    sums = folder / "SHA256SUMS"
    if not sums.exists():
        return []
    checked = []
    for name, digest in read_sha256sums(sums).items():
        path = folder / name
        if not path.exists():
            raise LabkitError(f"{path} is listed in SHA256SUMS but missing", "download the data set again")
        if sha256_of(path) != digest:
            raise LabkitError(f"{path} does not match its checksum in SHA256SUMS (damaged or edited)",
                              "download the data set again")
        checked.append(name)
    return checked


def load_beir(folder: Path | str, split: str = "test", verify: bool = True) -> BeirData:
    """Read a BEIR folder: the corpus, the queries judged in ``split``, and their judgments.

    >>> import tempfile
    >>> tiny = Path(tempfile.mkdtemp())
    >>> _ = (tiny / "corpus.jsonl").write_text('{"_id": "d1", "title": "Refunds", "text": "Refunds take 30 days."}\\n')
    >>> _ = (tiny / "queries.jsonl").write_text('{"_id": "q1", "text": "refunds?"}\\n{"_id": "q2", "text": "no judgment"}\\n')
    >>> (tiny / "qrels").mkdir(); _ = (tiny / "qrels" / "test.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t1\\n")
    >>> data = load_beir(tiny)
    >>> len(data.corpus), list(data.queries), data.qrels
    (1, ['q1'], {'q1': {'d1': 1}})
    """
    folder = Path(folder)
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / name).exists():
            raise LabkitError(f"{folder} is not a BEIR folder: {name} is missing",
                              "point --beir at a folder with corpus.jsonl, queries.jsonl and qrels/")
    if verify:
        verify_checksums(folder)
    corpus = [BeirDocument(str(row["_id"]), row.get("title") or "", row.get("text") or "")
              for row in _jsonl(folder / "corpus.jsonl")]
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
        for number, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if number == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # the header
            if len(parts) != 3:
                raise LabkitError(f"qrels/{split}.tsv line {number + 1} has {len(parts)} fields",
                                  "each line must be: query-id<TAB>corpus-id<TAB>score")
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {str(row["_id"]): row["text"] for row in _jsonl(folder / "queries.jsonl")
               if str(row["_id"]) in qrels}
    missing = set(qrels) - set(queries)
    if missing:
        raise LabkitError(f"{len(missing)} judged queries are not in queries.jsonl (e.g. {min(missing)})",
                          "the folder is incomplete: download the data set again")
    return BeirData(folder.name, corpus, queries, qrels)


def _jsonl(path: Path):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LabkitError(f"{path} line {number} is not JSON ({exc.msg})",
                                      "the file is damaged: download the data set again") from None


def run_benchmark(folder: Path | str, method: str = "dense", config: BenchConfig = BenchConfig(),
                  embedder=None) -> dict:
    """Retrieval quality and speed of one ``method`` ("dense", "bm25" or "hybrid") on a BEIR folder.

    ``embedder``: one to reuse (it keeps its own cache); by default one is made from
    ``config``. Returns a dict with ``ndcg@10``, ``recall@100``, ``mrr@10``,
    ``docs_per_s`` (encoding, dense and hybrid), ``ms_per_query`` (search only,
    one query at a time, query already embedded) and counts.
    """
    from tqdm.auto import tqdm

    if method not in METHODS:
        raise LabkitError(f"unknown method {method!r}", f"use one of: {', '.join(METHODS)}")
    data = load_beir(folder, config.split)
    chunks = [c for doc in data.corpus for c in chunk_whole(doc)]
    query_ids = list(data.queries)
    texts = [data.queries[q] for q in query_ids]
    result: dict = {"dataset": data.name, "method": method, "documents": len(chunks), "queries": len(query_ids)}

    if method in ("dense", "hybrid"):
        if embedder is None:
            embedder = Embedder(EmbedConfig(config.model, config.batch_size, config.cache_dir, config.progress))
        vectors = embedder.embed([c.text for c in chunks])
        stats = embedder.last_stats
        result.update(model=embedder.key, encode_s=stats.seconds, docs_per_s=stats.texts_per_s,
                      docs_from_cache=stats.from_cache)
        start = time.perf_counter()
        dense = VectorIndex.build(chunks, embedder, vectors=vectors)
        result["index_s"] = time.perf_counter() - start
        query_vectors = embedder.embed(texts)
        result["query_encode_ms"] = 1000 * embedder.last_stats.seconds / max(1, len(texts))
    if method in ("bm25", "hybrid"):
        start = time.perf_counter()
        lexical = BM25Index.build(chunks, config.bm25)
        result["index_s"] = result.get("index_s", 0.0) + time.perf_counter() - start

    if method == "dense":
        def search(i: int) -> list[Hit]:
            return dense.search_vector(query_vectors[i], config.k)
    elif method == "bm25":
        def search(i: int) -> list[Hit]:
            return lexical.search(texts[i], config.k)
    else:
        hybrid = HybridRetriever(dense, lexical, config.hybrid)

        def search(i: int) -> list[Hit]:
            return hybrid.search(texts[i], config.k, query_vector=query_vectors[i])

    run, seconds = {}, 0.0
    for i in tqdm(range(len(query_ids)), desc=f"searching ({method})", unit="query", disable=progress_off() or not config.progress):
        start = time.perf_counter()
        hits = search(i)
        seconds += time.perf_counter() - start
        run[query_ids[i]] = ranked_doc_ids(hits)
    result["ms_per_query"] = 1000 * seconds / max(1, len(query_ids))
    result.update(evaluate_run(run, data.qrels, ndcg_k=[10], recall_k=[100], mrr_k=[10]))
    return result


def ranked_doc_ids(hits: Sequence[Hit]) -> list[str]:
    """Document ids in rank order, each once (a document's best chunk stands for it)."""
    return list(dict.fromkeys(h.chunk.doc_id for h in hits))


def format_results(results: Sequence[dict]) -> str:
    """A plain-text table of :func:`run_benchmark` results.

    >>> print(format_results([{"dataset": "tiny", "method": "bm25", "ndcg@10": 0.5, "recall@100": 1.0,
    ...                         "mrr@10": 0.5, "ms_per_query": 0.2}]))
    dataset  method  nDCG@10  Recall@100  MRR@10  docs/s  ms/query
    tiny     bm25     0.5000      1.0000  0.5000       -      0.20
    """
    rows = [("dataset", "method", "nDCG@10", "Recall@100", "MRR@10", "docs/s", "ms/query")]
    for r in results:
        docs_per_s = "-" if "docs_per_s" not in r else (
            f"{r['docs_per_s']:.1f}" + (" (cached)" if r.get("docs_from_cache") == r["documents"] else ""))
        rows.append((r["dataset"], r["method"], f"{r['ndcg@10']:.4f}", f"{r['recall@100']:.4f}",
                     f"{r['mrr@10']:.4f}", docs_per_s, f"{r['ms_per_query']:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths))).rstrip() for row in rows)


def main_bench(argv: Sequence[str] | None = None) -> int:
    """``python -m labkit bench retrieval --beir DIR [--method dense|bm25|hybrid|all]``: print the figures."""
    parser = argparse.ArgumentParser(prog="labkit bench retrieval",
                                     description="Retrieval quality and speed on a BEIR-format folder.")
    parser.add_argument("--beir", required=True, type=Path, help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("--method", default="all", choices=[*METHODS, "all"])
    parser.add_argument("--model", default="minilm-l6", help="embedder key (labkit.models.MODELS)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--split", default="test")
    parser.add_argument("--cache", type=Path, default=cache_dir() / "embeddings",
                        help="embedding cache folder (default: %(default)s)")
    parser.add_argument("--no-cache", action="store_true", help="encode every document again")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    methods = METHODS if args.method == "all" else (args.method,)
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as scratch:  # --no-cache: encode once per run
        config = BenchConfig(model=args.model, batch_size=args.batch_size, split=args.split,
                             cache_dir=scratch if args.no_cache else args.cache)
        embedder = None
        if any(m in ("dense", "hybrid") for m in methods):
            embedder = Embedder(EmbedConfig(config.model, config.batch_size, config.cache_dir))
        results = [run_benchmark(args.beir, method, config, embedder=embedder) for method in methods]
    print(format_results(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0
