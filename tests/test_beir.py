"""labkit.retrieval.beir: loading BEIR folders (checked), and the real SciFact benchmark when it is there."""

import json
import os
from pathlib import Path

import pytest

from labkit.retrieval.beir import BenchConfig, format_results, load_beir, main_bench, run_benchmark, verify_checksums
from labkit.retrieval.embed import HashingEmbedder
from labkit.errors import LabkitError
from labkit.models import sha256_of

SCIFACT = Path(os.environ.get("LABKIT_SCIFACT")
               or Path(__file__).resolve().parents[1].parent / "shared/external/scifact")


def write_tiny_beir(folder: Path, checksums: bool = True) -> Path:
    corpus = [("d1", "Refunds", "Refunds are issued within 30 days."),
              ("d2", "Routers", "Reset the router by holding the button."),
              ("d3", "Hours", "The office opens at nine."),
              ("d4", "", "Salaries are paid monthly.")]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n"
                                                 for i, t, x in corpus))
    queries = [("q1", "how long do refunds take"), ("q2", "router reset"), ("q3", "unjudged query")]
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td3\t0\n")
    if checksums:
        names = ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"]
        (folder / "SHA256SUMS").write_text("".join(f"{sha256_of(folder / n)}  {n}\n" for n in names))
    return folder


def test_load_reads_corpus_judged_queries_and_grades(tmp_path):
    data = load_beir(write_tiny_beir(tmp_path))
    assert [d.doc_id for d in data.corpus] == ["d1", "d2", "d3", "d4"]
    assert data.queries == {"q1": "how long do refunds take", "q2": "router reset"}  # q3 is not judged
    assert data.qrels == {"q1": {"d1": 1}, "q2": {"d2": 2, "d3": 0}}
    assert verify_checksums(tmp_path) == ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"]


def test_checksums_catch_an_edited_file(tmp_path):
    folder = write_tiny_beir(tmp_path)
    with open(folder / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d5", "title": "", "text": "sneaked in"}) + "\n")
    with pytest.raises(LabkitError, match="corpus.jsonl does not match its checksum"):
        load_beir(folder)
    assert len(load_beir(folder, verify=False).corpus) == 5


def test_missing_or_damaged_files_are_named(tmp_path):
    folder = write_tiny_beir(tmp_path, checksums=False)
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "ok"}\n{broken\n')
    with pytest.raises(LabkitError, match="queries.jsonl line 2 is not JSON"):
        load_beir(folder)
    (folder / "qrels" / "test.tsv").unlink()
    with pytest.raises(LabkitError, match="qrels/test.tsv is missing"):
        load_beir(folder)


@pytest.mark.parametrize("method", ["dense", "bm25", "hybrid"])
def test_benchmark_on_a_tiny_folder(method, tmp_path):
    folder = write_tiny_beir(tmp_path)
    result = run_benchmark(folder, method, BenchConfig(progress=False), embedder=HashingEmbedder(64))
    assert result["queries"] == 2 and result["documents"] == 4
    assert result["recall@100"] == 1.0  # 4 documents, k=100: everything is retrieved
    assert 0.5 <= result["ndcg@10"] <= 1.0 and result["ms_per_query"] > 0
    assert ("docs_per_s" in result) == (method != "bm25")


def test_main_bench_prints_a_table(tmp_path, capsys):
    folder = write_tiny_beir(tmp_path / "tiny")
    assert main_bench(["--beir", str(folder), "--method", "bm25", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "nDCG@10" in out and "tiny" in out and "bm25" in out
    assert json.loads((tmp_path / "r.json").read_text())[0]["method"] == "bm25"
    assert format_results([]).startswith("dataset")


# -- the real benchmark: BEIR SciFact, all-MiniLM-L6-v2 --------------------------


def scifact_or_skip() -> Path:
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"SciFact is not at {SCIFACT} (set LABKIT_SCIFACT to its folder)")
    return SCIFACT


@pytest.fixture(scope="module")
def scifact_bm25():
    """BM25 on the whole of SciFact: seconds, so it runs with every `make test`."""
    return run_benchmark(scifact_or_skip(), "bm25", BenchConfig(progress=False))


@pytest.fixture(scope="module")
def scifact_results(tmp_path_factory):
    """Dense and hybrid on the whole of SciFact: one encoding of 5,183 abstracts, 3 minutes on a 2-core CPU with
    bf16 and about 15 on one without (docs/BENCHMARKS.md), so these run with `make bench`, not `make test`."""
    from labkit.retrieval.embed import EmbedConfig, Embedder

    folder = scifact_or_skip()
    cache = tmp_path_factory.mktemp("embeddings")
    embedder = Embedder(EmbedConfig("minilm-l6", cache_dir=cache, progress=False))
    config = BenchConfig(cache_dir=cache, progress=False)
    # dense encodes the corpus once; hybrid reads the cache
    return {m: run_benchmark(folder, m, config, embedder=embedder) for m in ("dense", "bm25", "hybrid")}


def test_scifact_bm25_is_near_anserini(scifact_bm25):
    assert scifact_bm25["documents"] == 5183 and scifact_bm25["queries"] == 300
    assert scifact_bm25["ndcg@10"] >= 0.66  # BEIR paper 0.665, Anserini 0.679
    assert scifact_bm25["recall@100"] >= 0.89


@pytest.mark.benchmark
def test_scifact_dense_reproduces_the_published_ndcg(scifact_results):
    dense = scifact_results["dense"]
    assert dense["documents"] == 5183 and dense["queries"] == 300
    assert dense["ndcg@10"] >= 0.640  # published 0.645 (MTEB); reproduced 0.6451
    assert dense["recall@100"] >= 0.90


@pytest.mark.benchmark
def test_scifact_hybrid_beats_both(scifact_results):
    hybrid = scifact_results["hybrid"]
    assert hybrid["ndcg@10"] > scifact_results["dense"]["ndcg@10"]
    assert hybrid["ndcg@10"] > scifact_results["bm25"]["ndcg@10"]
    assert hybrid["docs_from_cache"] == hybrid["documents"]  # the embeddings were reused, not recomputed
