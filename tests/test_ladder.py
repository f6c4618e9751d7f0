import json
import random
from dataclasses import replace

import pytest

from labkit import data, ladder, runtime
from labkit.scoreboard import load_scoreboard, measurements


def test_heldout_sample_is_seeded_and_never_trained_on():
    profile = runtime.get_profile("ci")
    a, b = ladder.heldout_sample(profile, random.Random(3)), ladder.heldout_sample(profile, random.Random(3))
    assert [r.id for r in a.facts] == [r.id for r in b.facts]
    assert all(r.extra["split"] != "train" for r in a.facts)
    assert all(t.split == "heldout" for t in a.format_tasks)
    c = ladder.heldout_sample(profile, random.Random(4))
    assert [r.id for r in a.facts] != [r.id for r in c.facts]


def test_unknown_rung_is_refused():
    from labkit.errors import LabkitError

    with pytest.raises(LabkitError, match="unknown rung"):
        ladder.run_ladder(ladder.LadderConfig(rungs=("magic",)))


@pytest.fixture
def tiny_profile(monkeypatch):
    tiny = replace(runtime.PROFILES["ci"], eval_examples=6, max_new_tokens=16, max_format_tokens=48)
    monkeypatch.setitem(runtime.PROFILES, "ci", tiny)
    return tiny


def test_prompt_rung_writes_scoreboard_and_plot(tmp_path, tiny_profile):
    rows = ladder.run_ladder(ladder.LadderConfig(rungs=("prompt",), out=tmp_path, profile="ci"))
    closed, few = rows
    assert (closed.rung, closed.variant, few.variant) == ("prompt", "closed-book", "few-shot, JSON guard")
    assert closed.n == 6 + 3
    # the base model has never seen Quillmoor: it cannot know these facts, and rarely abstains
    assert closed.accuracy <= 0.5 and closed.hallucination_rate >= 0.5
    assert 0 <= few.format_compliance <= 1 and few.prompt_tokens_mean > closed.prompt_tokens_mean
    assert load_scoreboard(tmp_path / "scoreboard.json") == rows
    assert (tmp_path / "ladder.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "scoreboard.json").read_text())["rows"]
    assert saved[0]["profile"] == "ci" and saved[0]["seed"] == 0
    again = ladder.run_ladder(ladder.LadderConfig(rungs=("prompt",), out=tmp_path / "again", profile="ci"))
    assert measurements(again) == measurements(rows)  # deterministic: same seed, same machine, same scoreboard


def test_the_few_shot_examples_do_not_depend_on_the_sample_size(tmp_path, monkeypatch):
    import labkit.models
    from labkit.scoreboard import Row

    shown = []

    def fake_prompt_rung(model, tokenizer, heldout, profile, rng, few_shot, *rest):
        shown.append((len(heldout.facts), ladder.few_shot_examples(few_shot, rng)))
        return [Row("prompt", "closed-book")]

    monkeypatch.setattr(labkit.models, "load_generator", lambda key: (None, None))
    monkeypatch.setattr(ladder, "prompt_rung", fake_prompt_rung)
    for sample in (4, 10):
        ladder.run_ladder(ladder.LadderConfig(rungs=("prompt",), out=tmp_path / str(sample), profile="ci", sample=sample))
    (small, first), (large, second) = shown
    assert (small, large) == (4, 10) and first == second  # the same worked examples for either sample


def test_the_v2_update_chunks_hold_every_changed_document_in_its_v2_text():
    changed = {c.doc_id for c in data.load_changelog()}
    chunks = ladder.v2_update_chunks(str.split)
    assert {c.doc_id for c in chunks} == changed
    v2 = {d.doc_id: d.text for d in data.load_corpus("v2")}
    v1 = {d.doc_id: d.text for d in data.load_corpus("v1")}
    assert all(c.text in v2[c.doc_id] for c in chunks)
    assert any(c.text not in v1[c.doc_id] for c in chunks), "at least one chunk must carry a changed value"


def test_stale_rate_counts_the_old_value_only_when_the_new_one_is_absent():
    records = data.load_qa("qa_updates")[:2]
    old, new = records[0].extra["answers_v1"][0], records[0].extra["answers_v2"][0]
    assert ladder.stale_rate([f"It is {old}.", f"It is {records[1].extra['answers_v2'][0]}."], records) == 0.5
    assert ladder.stale_rate([f"{old}, now {new}", "no idea"], records) == 0.0


def test_headlines_take_each_rungs_figures_from_the_rows_that_speak_for_it():
    from labkit.ladder import headlines
    from labkit.scoreboard import Row

    rows = [
        Row("prompt", "closed-book", accuracy=0.05, hallucination_rate=0.9, latency_ms_mean=300.0),
        Row("prompt", "few-shot, JSON guard", format_compliance=0.3),
        Row("prompt", "closed-book (e) updated facts (v2)", corpus_version="v2", accuracy=0.0, stale_rate=0.03),
        Row("rag", "bm25 top-5", accuracy=0.4, citation_recall=0.7),
        Row("rag", "format from top-3 retrieved (style guide)", format_compliance=0.2),
        Row("rag", "stale-index", corpus_version="v2", accuracy=0.1, stale_rate=0.3),
        Row("rag", "updated-index", corpus_version="v2", accuracy=0.3, stale_rate=0.0, update_seconds=2.0),
        Row("ft", "format (tuned, 1-line prompt)", format_compliance=0.8),
        Row("ft", "format (tuned, 1-line prompt), JSON guard", format_compliance=0.95),
        Row("ft", "facts (a) trained questions", accuracy=0.15),
        Row("ft", "facts (c) unseen facts", accuracy=0.05, hallucination_rate=0.95),
        Row("ft", "facts (e) updated facts (v2)", corpus_version="v2", accuracy=0.0, stale_rate=0.24, update_seconds=166.0),
        Row("both", "RAFT + bm25 top-3", accuracy=0.5, format_compliance=1.0, citation_recall=0.8),
        Row("both", "RAFT + bm25 top-3", corpus_version="v2", accuracy=0.45, stale_rate=0.0, update_seconds=12.0),
    ]
    summary = headlines(rows)
    assert list(summary) == ["prompt", "rag", "ft", "both"]
    assert summary["prompt"]["format_compliance"] == 0.3 and summary["prompt"]["update_seconds"] is None
    assert summary["rag"]["accuracy"] == 0.4 and summary["rag"]["citation_recall"] == 0.7  # not the format row
    assert summary["rag"]["stale_rate"] == 0.0  # the updated index, not the stale one
    assert summary["rag"]["format_compliance"] == 0.2
    both_alone = [r for r in rows if r.rung != "rag"] + [Row("rag", "base + bm25 top-3 (same passages as both)", accuracy=0.2)]
    assert headlines(both_alone)["rag"]["accuracy"] == 0.2  # the both rung run alone compares the base model itself
    assert summary["ft"]["accuracy"] == 0.05 and summary["ft"]["update_seconds"] == 166.0
    assert summary["ft"]["format_compliance"] == 0.95  # the guarded row speaks for the format where it exists
    assert summary["both"]["fresh_accuracy"] == 0.45 and summary["both"]["format_compliance"] == 1.0
    assert list(headlines(rows[:3])) == ["prompt"]


def test_the_course_index_embeds_the_corpus_once_then_reads_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    first = ladder.build_course_index("v1")
    assert first.embedder.last_stats.encoded > 500 and first.embedder.last_stats.from_cache == 0
    again = ladder.build_course_index("v1")
    assert again.embedder.last_stats.encoded == 0, "the second build must read every vector from the cache"
    question = "What is the warranty period for Baskel hygrometers?"
    assert ([h.chunk.chunk_id for h in first.search(question, k=5, role="agent")]
            == [h.chunk.chunk_id for h in again.search(question, k=5, role="agent")])
