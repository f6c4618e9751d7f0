import json
import random
from dataclasses import replace

import pytest

from labkit import data, ladder, runtime
from labkit.scoreboard import load_scoreboard


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
    assert (closed.rung, closed.variant, few.variant) == ("prompt", "closed-book", "few-shot")
    assert closed.n == 6 + 3
    # the base model has never seen Quillmoor: it cannot know these facts, and rarely abstains
    assert closed.accuracy <= 0.5 and closed.hallucination_rate >= 0.5
    assert 0 <= few.format_compliance <= 1 and few.prompt_tokens_mean > closed.prompt_tokens_mean
    assert load_scoreboard(tmp_path / "scoreboard.json") == rows
    assert (tmp_path / "ladder.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "scoreboard.json").read_text())["rows"]
    assert saved[0]["profile"] == "ci" and saved[0]["seed"] == 0


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
