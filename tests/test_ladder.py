import json
import random
from dataclasses import replace

import pytest

from labkit import runtime
from labkit.course import data
from labkit.course.corpus import course_corpus
from labkit.course.sample import SAMPLE_SIZE, heldout_sample, largest_sample, stale_rate
from labkit.ladder.run import LadderConfig, run_ladder
from labkit.scoreboard import Row, headlines, load_scoreboard, measurements

CORPUS = course_corpus()


def test_heldout_sample_is_seeded_and_never_trained_on():
    size = SAMPLE_SIZE
    a, b = heldout_sample(CORPUS, size, random.Random(3)), heldout_sample(CORPUS, size, random.Random(3))
    assert [r.id for r in a.facts] == [r.id for r in b.facts]
    assert len(a.facts) == size and all(r.extra["split"] != "train" for r in a.facts)
    assert all(t.split == "heldout" for t in a.format_tasks)
    assert a.questions == a.facts + a.unanswerable and not any(r.answerable for r in a.unanswerable)
    c = heldout_sample(CORPUS, size, random.Random(4))
    assert [r.id for r in a.facts] != [r.id for r in c.facts]


def test_a_sample_larger_than_the_held_out_questions_is_refused_with_the_largest_that_fits():
    from labkit.errors import LabkitError

    unseen = sum(r.extra["split"] == "heldout_unseen" for r in CORPUS.questions("facts"))
    with pytest.raises(LabkitError, match=f"ask for a smaller sample \\(at most {largest_sample(CORPUS)}\\)"):
        heldout_sample(CORPUS, 2 * unseen + 2, random.Random(0))
    full = heldout_sample(CORPUS, largest_sample(CORPUS), random.Random(0))  # what ladder --full scores
    assert len(full.facts) == largest_sample(CORPUS) > SAMPLE_SIZE
    assert len({r.id for r in full.facts}) == len(full.facts)


def test_the_sample_is_the_courses_on_every_profile(monkeypatch):
    from labkit.ladder import run

    drawn = {}

    def fake_load(name):
        raise StopIteration  # stop once the sample is drawn and announced: no model needed

    monkeypatch.setattr(run, "load_generator", fake_load)
    for profile in runtime.PROFILES:
        def spy(corpus, size, rng, name=profile):
            sample = heldout_sample(corpus, size, rng)
            drawn[name] = [r.id for r in sample.questions]
            return sample

        monkeypatch.setattr(run, "heldout_sample", spy)
        with pytest.raises(StopIteration):
            run.run_ladder(run.LadderConfig(profile=profile))
    assert len(drawn) == len(runtime.PROFILES) and len(drawn["ci"]) == SAMPLE_SIZE + SAMPLE_SIZE // 2
    assert drawn["cpu"] == drawn["ci"] == drawn["gpu"], "a laptop and Colab must score the questions CI scores"
    def spy_full(corpus, size, rng):
        sample = heldout_sample(corpus, size, rng)
        drawn["full"] = [r.id for r in sample.questions]
        return sample

    monkeypatch.setattr(run, "heldout_sample", spy_full)
    with pytest.raises(StopIteration):
        run.run_ladder(run.LadderConfig(profile="cpu", full=True))  # --full: every held-out question
    unanswerable = min(largest_sample(CORPUS) // 2, len(CORPUS.questions("unanswerable")))
    assert len(drawn["full"]) == largest_sample(CORPUS) + unanswerable


def test_unknown_rung_is_refused():
    from labkit.errors import LabkitError

    with pytest.raises(LabkitError, match="unknown rung"):
        run_ladder(LadderConfig(rungs=("magic",)))


@pytest.fixture
def tiny_profile(monkeypatch):
    tiny = replace(runtime.PROFILES["ci"], max_new_tokens=16, max_format_tokens=48)
    monkeypatch.setitem(runtime.PROFILES, "ci", tiny)
    return tiny


def test_prompt_rung_writes_scoreboard_and_plot(tmp_path, tiny_profile):
    # sample=6: six fact questions, and the first six update questions
    rows = run_ladder(LadderConfig(rungs=("prompt",), out=tmp_path, profile="ci", sample=6))
    closed, few, update = rows
    assert (closed.rung, closed.variant, few.variant) == ("prompt", "closed-book", "few-shot, JSON guard")
    assert closed.n == 6 + 3
    assert (closed.question_set, closed.metric_role, closed.headline) == ("heldout", "answers", True)
    assert (few.question_set, few.metric_role, few.headline) == ("format", "format", True)
    # the base model has never seen Quillmoor: it cannot know these facts, and rarely abstains
    assert closed.accuracy <= 0.5 and closed.hallucination_rate >= 0.5
    assert 0 <= few.format_compliance <= 1 and few.prompt_tokens_mean > closed.prompt_tokens_mean
    # its own update row: the changed facts asked closed-book after v2 landed (it cannot know the new values)
    assert (update.variant, update.corpus_version) == ("closed-book (e) updated facts (v2)", "v2")
    assert (update.question_set, update.metric_role, update.headline) == ("updates", "update", True)
    assert update.n == 6 and update.accuracy <= 0.5 and 0 <= update.stale_rate <= 1
    assert update.update_seconds is None  # a prompt cannot absorb an update
    assert load_scoreboard(tmp_path / "scoreboard.json") == rows
    assert (tmp_path / "ladder.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "scoreboard.json").read_text())["rows"]
    assert saved[0]["profile"] == "ci" and saved[0]["seed"] == 0
    again = run_ladder(LadderConfig(rungs=("prompt",), out=tmp_path / "again", profile="ci", sample=6))
    assert measurements(again) == measurements(rows)  # deterministic: same seed, same machine, same scoreboard


def test_the_few_shot_examples_do_not_depend_on_the_sample_size(tmp_path, monkeypatch):
    from labkit.ladder.prompt import few_shot_examples

    shown = []

    def fake_prompt_rung(model, tokenizer, corpus, heldout, profile, rng, few_shot, *rest, **options):
        shown.append((len(heldout.facts), few_shot_examples(corpus, few_shot, rng)))
        return [answers("prompt", "closed-book")]

    monkeypatch.setattr("labkit.ladder.run.load_generator", lambda key: (None, None))
    monkeypatch.setattr("labkit.ladder.run.prompt_rung", fake_prompt_rung)
    for sample in (4, 10):
        run_ladder(LadderConfig(rungs=("prompt",), out=tmp_path / str(sample), profile="ci", sample=sample))
    (small, first), (large, second) = shown
    assert (small, large) == (4, 10) and first == second  # the same worked examples for either sample


def test_the_v2_update_chunks_hold_every_changed_document_in_its_v2_text():
    from labkit.ladder.rag import v2_update_chunks

    changed = {c.doc_id for c in data.load_changelog()}
    chunks = v2_update_chunks(CORPUS, str.split)
    assert {c.doc_id for c in chunks} == changed
    v2 = {d.doc_id: d.text for d in CORPUS.documents("v2")}
    v1 = {d.doc_id: d.text for d in CORPUS.documents("v1")}
    assert all(c.text in v2[c.doc_id] for c in chunks)
    assert any(c.text not in v1[c.doc_id] for c in chunks), "at least one chunk must carry a changed value"


def test_stale_rate_counts_the_old_value_only_when_the_new_one_is_absent():
    records = CORPUS.questions("updates")[:2]
    old, new = records[0].extra["answers_v1"][0], records[0].extra["answers_v2"][0]
    assert stale_rate([f"It is {old}.", f"It is {records[1].extra['answers_v2'][0]}."], records) == 0.5
    assert stale_rate([f"{old}, now {new}", "no idea"], records) == 0.0


def answers(rung, variant, headline=True, question_set="heldout", **measured):
    return Row(rung, variant, question_set=question_set, metric_role="answers", headline=headline, **measured)


def fmt(rung, variant, headline=True, **measured):
    return Row(rung, variant, question_set="format", metric_role="format", headline=headline, **measured)


def update(rung, variant, headline=True, **measured):
    return Row(rung, variant, corpus_version="v2", question_set="updates", metric_role="update", headline=headline,
               **measured)


# each rung's non-headline rows come first: a reader that took the first row of a role would pick them
HEADLINE_ROWS = [
    answers("prompt", "closed-book", accuracy=0.05, hallucination_rate=0.9, latency_ms_mean=300.0),
    fmt("prompt", "few-shot, JSON guard", format_compliance=0.3),
    update("prompt", "closed-book (e) updated facts (v2)", accuracy=0.0, stale_rate=0.03),
    answers("rag", "bm25 top-5", accuracy=0.4, citation_recall=0.7),
    fmt("rag", "format from top-3 retrieved (style guide)", format_compliance=0.2),
    update("rag", "stale-index", headline=False, accuracy=0.1, stale_rate=0.3),
    update("rag", "updated-index", accuracy=0.3, stale_rate=0.0, update_seconds=2.0),
    fmt("ft", "format (tuned, 1-line prompt)", headline=False, format_compliance=0.8),
    fmt("ft", "format (tuned, 1-line prompt), JSON guard", format_compliance=0.95),
    answers("ft", "closed-book (c) unseen facts", headline=False, question_set="unseen", accuracy=0.3),
    update("ft", "closed-book (e) updated facts (v2)", headline=False, accuracy=0.2, stale_rate=0.5),
    answers("ft", "facts (a) trained questions", headline=False, question_set="trained", accuracy=0.15),
    answers("ft", "facts (c) unseen facts", question_set="unseen", accuracy=0.05, hallucination_rate=0.95),
    update("ft", "facts (e) updated facts (v2)", accuracy=0.0, stale_rate=0.24, update_seconds=166.0),
    answers("both", "base + bm25 top-3 (same passages as both)", headline=False, accuracy=0.2, format_compliance=0.6),
    answers("both", "RAFT + bm25 top-3", accuracy=0.5, format_compliance=1.0, citation_recall=0.8),
    update("both", "RAFT + bm25 top-3", accuracy=0.45, stale_rate=0.0, update_seconds=12.0),
]


def test_headlines_take_each_rungs_figures_from_the_rows_that_speak_for_it():
    rows = HEADLINE_ROWS
    summary = headlines(rows)
    assert list(summary) == ["prompt", "rag", "ft", "both"]
    assert summary["prompt"]["format_compliance"] == 0.3 and summary["prompt"]["update_seconds"] is None
    assert summary["prompt"]["accuracy"] == 0.05 and summary["prompt"]["latency_ms"] == 300.0
    assert summary["rag"]["accuracy"] == 0.4 and summary["rag"]["citation_recall"] == 0.7  # not the format row
    assert summary["rag"]["stale_rate"] == 0.0  # the updated index, not the stale one
    assert summary["rag"]["format_compliance"] == 0.2
    assert summary["ft"]["accuracy"] == 0.05 and summary["ft"]["update_seconds"] == 166.0  # not the base model's
    assert summary["ft"]["fresh_accuracy"] == 0.0 and summary["ft"]["stale_rate"] == 0.24
    assert summary["ft"]["format_compliance"] == 0.95  # the guarded row speaks for the format where it is the headline
    # no format row: RAFT's compliance comes from its answers row (its answers are JSON replies), not the base row's
    assert summary["both"]["format_compliance"] == 1.0 and summary["both"]["accuracy"] == 0.5
    assert summary["both"]["fresh_accuracy"] == 0.45 and summary["both"]["update_seconds"] == 12.0
    assert list(headlines(rows[:3])) == ["prompt"]


def test_a_row_that_is_not_a_headline_never_speaks():
    rows = HEADLINE_ROWS
    # the both rung run alone: its base-model comparison row is no headline, so the rag rung does not appear
    both_alone = [r for r in rows if r.rung == "both"]
    assert list(headlines(both_alone)) == ["both"] and headlines(both_alone)["both"]["accuracy"] == 0.5
    assert headlines([r for r in rows if not r.headline]) == {}  # a rung with no headline row is left out
    # where the unguarded format row is the headline (no JSON guard), it is the one that speaks
    unguarded = [replace(r, headline=not r.headline) if r.rung == "ft" and r.metric_role == "format" else r
                 for r in rows]
    assert headlines(unguarded)["ft"]["format_compliance"] == 0.8


def figures_only(summary):
    """The headline figures, without the rows that speak for each rung (which carry their names)."""
    return {rung: {k: v for k, v in figures.items() if k != "rows"} for rung, figures in summary.items()}


def test_renaming_a_variant_does_not_change_the_headlines():
    summary = figures_only(headlines(HEADLINE_ROWS))
    renamed = [replace(r, variant=f"variant {i}") for i, r in enumerate(HEADLINE_ROWS)]
    assert figures_only(headlines(renamed)) == summary
    # even names that used to mean something else: the stale index called "updated-index", and so on
    swapped = [replace(r, variant=v) for r, v in zip(HEADLINE_ROWS, reversed([r.variant for r in HEADLINE_ROWS]))]
    assert figures_only(headlines(swapped)) == summary


def test_the_course_index_embeds_the_corpus_once_then_reads_the_cache(tmp_path, monkeypatch):
    from labkit.ladder.rag import build_index

    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    first = build_index(CORPUS, "v1")
    assert first.embedder.last_stats.encoded > 500 and first.embedder.last_stats.from_cache == 0
    again = build_index(CORPUS, "v1")
    assert again.embedder.last_stats.encoded == 0, "the second build must read every vector from the cache"
    question = "What is the warranty period for Baskel hygrometers?"
    assert ([h.chunk.chunk_id for h in first.search(question, k=5, role="agent")]
            == [h.chunk.chunk_id for h in again.search(question, k=5, role="agent")])


def test_seeds_repeat_only_the_trained_rungs_on_the_same_questions(tmp_path, monkeypatch, capsys):
    """`ladder --seeds 0,1,2`: prompt and rag once; ft and both once per training seed, on the same sample and the
    same fact sets; the base model's baseline once; the spread, a rank per seed and the claims on every seed."""
    from labkit.ladder import run

    calls = {"ft": [], "both": []}
    ids = [f"q{i}" for i in range(10)]

    def scored(rung, variant, right, **describe):
        return answers(rung, variant, n=10, accuracy=sum(right) / 10, question_ids=ids, correct=right, **describe)

    def fake_rag(model, tokenizer, corpus, heldout, *rest, fact_sets=None, **options):
        calls["rag_sets"] = {name: [r.id for r in records] for name, records in fact_sets.items()}
        return [scored("rag", "bm25 top-3", [1] * 5 + [0] * 5)]

    def fake_ft(model, tokenizer, corpus, heldout, profile, rng, *rest, train_seed=0, sets=None, **options):
        calls["ft"].append((model, train_seed, [r.id for r in sets.unseen], [r.id for r in heldout.questions]))
        return [fmt("ft", "format", format_compliance=1.0, train_seed=train_seed)]

    def fake_both(model, tokenizer, corpus, heldout, *rest, train_seed=None, compare_base=True, **options):
        calls["both"].append((model, train_seed, compare_base))
        right = [1] * (8 - train_seed) + [0] * (2 + train_seed)  # seed 0: 80%, 1: 70%, 2: 60%
        return [scored("both", "RAFT + bm25 top-3", right, train_seed=train_seed)]

    monkeypatch.setattr(run, "load_generator", lambda key: ("base model", None))
    monkeypatch.setattr(run, "rag_rung", fake_rag)
    monkeypatch.setattr(run, "ft_rung", fake_ft)
    monkeypatch.setattr(run, "both_rung", fake_both)
    rows = run_ladder(LadderConfig(rungs=("rag", "ft", "both"), out=tmp_path, profile="ci", sample=4,
                                   train_seeds=(0, 1, 2)))
    assert [seed for _, seed, _, _ in calls["ft"]] == [0, 1, 2] == [seed for _, seed, _ in calls["both"]]
    assert [model for model, *_ in calls["ft"]] == ["base model", None, None], "the baseline rows once"
    assert len({(tuple(unseen), tuple(asked)) for _, _, unseen, asked in calls["ft"]}) == 1, "one sample for every seed"
    assert calls["rag_sets"]["unseen"] == calls["ft"][0][2], "RAG answers the fine-tune's very questions"
    assert set(calls["rag_sets"]) == {"trained", "paraphrased", "unseen"}
    assert not any(compare for *_, compare in calls["both"]), "the rag rung read those passages already"
    assert sorted(r.train_seed for r in rows if r.rung == "both") == [0, 1, 2]  # none replaced another
    printed = capsys.readouterr().out
    assert "seed 0  seed 1  seed 2" in printed and "80%     70%     60%" in printed
    for seed, gap in ((0, "+30"), (1, "+20"), (2, "+10")):
        assert f"training seed {seed}: both " in printed and gap in printed
    assert printed.count("rag vs prompt") + printed.count("rag beats prompt") == 0  # no prompt rung here
    assert "(on every training seed)" in printed


@pytest.mark.parametrize("seeds", [(), (0, 0), (-1,)])
def test_training_seeds_are_checked(seeds, tmp_path):
    from labkit.errors import LabkitError

    with pytest.raises(LabkitError, match="training seeds"):
        run_ladder(LadderConfig(out=tmp_path, train_seeds=seeds))
