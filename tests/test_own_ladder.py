"""The ladder on a corpus of your own: the packaged example (a ferry operator, four roles, an update), the
command line, and what the rungs do where the course's sets are missing. No model is loaded here: the rungs
that answer are faked or left out; lab 10 runs the real thing under nbval."""
import json
import random

import pytest

from labkit.cli import main
from labkit.course.own import EXAMPLE, example_corpus
from labkit.course.sample import heldout_sample
from labkit.ladder import run
from labkit.ladder.both import BothConfig, epochs_for, raft_set
from labkit.ladder.decide import Needs, decision
from labkit.ladder.ft import FACT_SET_NAMES, fact_sets, FactsConfig
from labkit.ladder.rag import RETRIEVERS, build_retriever, close_retriever, min_coverage, pick_retriever
from labkit.scoreboard import Row, headlines

CORPUS = example_corpus()


def test_the_example_has_four_roles_restricted_documents_and_an_update():
    assert list(CORPUS.roles) == ["passenger", "crew", "engineer", "manager"]
    assert CORPUS.asker == CORPUS.updater == "manager"  # the role that reads the most asks
    labels = {d.access for d in CORPUS.documents("v1")}
    assert labels == {"public", "crew", "engineering", "management"}
    assert len(CORPUS.changed_doc_ids) == 3 and len(CORPUS.questions("updates")) == 4
    denied = {role for r in CORPUS.questions("restricted") for role in r.extra["denied_roles"]}
    assert denied == {"passenger", "crew", "engineer"}


def test_every_fact_states_its_answer_in_its_document():
    text = {d.doc_id: d.text for d in CORPUS.documents("v1")}
    for r in CORPUS.questions("facts"):
        assert any(a in text[r.gold_doc_ids[0]] for a in r.answers), r.id


@pytest.fixture(scope="module")
def hybrid():
    return build_retriever(CORPUS)


@pytest.mark.parametrize("view", RETRIEVERS)
def test_no_retriever_leaks_a_restricted_document_at_any_k(hybrid, view):
    retriever = pick_retriever(hybrid, view)
    access = {d.doc_id: d.access for d in CORPUS.documents("v1")}
    chunks = len(hybrid.dense)
    for role, readable in CORPUS.roles.items():
        for r in CORPUS.questions("restricted")[:4]:
            for k in (1, 2, 3, 5, 10, chunks, chunks + 5):
                got = [h.chunk.doc_id for h in retriever.search(r.question, k=k, role=role)]
                assert all(access[d] in readable for d in got), (view, role, k, got)
                if k >= chunks:  # asked for everything: it gets every chunk it may read, no more
                    assert len(got) == sum(access[c.doc_id] in readable for c in hybrid.dense.all_chunks())


def test_every_held_out_question_is_scored_and_none_trains():
    held = heldout_sample(CORPUS, None)
    facts = CORPUS.questions("facts")
    assert len(held.facts) == sum(r.extra["split"] != "train" for r in facts) == 39
    assert len(held.unanswerable) == 6 and held.format_tasks == []
    trained = {r.extra["fact_id"] for r in facts if r.extra["split"] == "train"}
    assert not [r for r in held.facts if r.extra["split"] == "heldout_unseen" and r.extra["fact_id"] in trained]


def test_the_facts_fine_tune_draws_from_a_corpus_without_ticket_facts():
    sets = fact_sets(CORPUS, FactsConfig(), random.Random(0))
    assert len(sets.trained) == 13 and len(sets.paraphrased) == 13 and len(sets.updates) == 4
    assert len(sets.unseen) == 13 and len(sets.unanswerable) == 6  # every unseen fact (phrasing 0): fewer than per_set
    trained = {e.messages[-1]["content"] for e in sets.examples}
    assert not any(r.question in trained for r in sets.paraphrased + sets.unseen + sets.unanswerable)
    assert sets.known_heldout  # the course's general set measures forgetting on any corpus


def test_raft_trains_on_all_the_example_has_for_longer(hybrid):
    examples = raft_set(CORPUS, hybrid, BothConfig())
    assert 0 < len(examples) <= 13  # every trainable fact whose answer is in a chunk, not the course's 192
    assert {e.record_id for e in examples} <= {r.id for r in CORPUS.train_facts()}
    assert epochs_for(BothConfig(), len(examples)) * len(examples) >= BothConfig().min_examples_seen
    assert epochs_for(BothConfig(), 192) == BothConfig().training.epochs  # the course's run is unchanged


def test_the_gate_is_calibrated_on_the_training_split_of_the_asking_role(hybrid):
    gate = min_coverage(CORPUS, pick_retriever(hybrid), 3)
    assert 0 < gate < 1


def test_the_runner_writes_a_decision_and_skips_the_course_claims(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(run, "load_generator", lambda name: (None, None))

    def fake_rag(model, tokenizer, corpus, heldout, *rest, fact_sets=None, **options):
        ids = [r.id for r in heldout.questions]
        return [Row("rag", "bm25 top-3", question_set="heldout", metric_role="answers", headline=True, n=len(ids),
                    accuracy=0.5, question_ids=ids, correct=[i % 2 for i in range(len(ids))])]

    monkeypatch.setattr(run, "rag_rung", fake_rag)
    rows = run.run_ladder(run.LadderConfig(rungs=("rag",), out=tmp_path), CORPUS)
    said = (tmp_path / "decision.txt").read_text()
    assert "'brightwater'" in said and "rag:" in said and "n = 45 questions" in said
    out = capsys.readouterr().out
    assert "the decision for brightwater" in out and "claim" not in out.lower()
    assert len(rows) == 1


def test_decision_names_the_interval_of_a_small_set():
    ids = [f"q{i}" for i in range(12)]
    rows = [Row("rag", "bm25", metric_role="answers", headline=True, n=12, accuracy=0.5, question_ids=ids,
                correct=[1, 0] * 6)]
    text = decision(Needs(private_facts=True), headlines(rows))
    assert "n = 12" in text and "points wide" in text


def ladder_args(*extra):
    return ["ladder", "--corpus", str(EXAMPLE / "brightwater"), "--rungs", "rag", *extra]


def test_the_command_refuses_own_corpus_options_without_corpus(capsys, tmp_path):
    assert main(["ladder", "--questions", "q.jsonl", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "--corpus is missing" in err  # the problem and the fix, no traceback
    assert not (tmp_path / "out").exists()


def test_the_command_needs_questions_and_names_the_template(capsys, tmp_path):
    assert main(ladder_args("--out", str(tmp_path / "out"))) == 2
    assert "questions --template" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("line, problem", [
    ('{"question": "What is the pet fee?", "answers": ["4 euros"], "doc_id": "pets"}', "names no document"),
    ('{"question": "What is the pet fee?", "answers": []}', "needs at least one value"),
    ('{"question": "What is the pet fee?", "answers": ["4 euros"], "role": "captain"}', "not a role"),
    ('{"question": "What is the pet fee?", "answers": ["4 eu', "cut short or malformed"),
])
def test_a_bad_questions_line_is_one_clear_line_and_writes_nothing(tmp_path, capsys, line, problem):
    questions = tmp_path / "q.jsonl"
    good = (EXAMPLE / "questions.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    questions.write_text("\n".join([*good, line]) + "\n", encoding="utf-8")
    code = main(ladder_args("--questions", str(questions), "--roles", str(EXAMPLE / "roles.json"),
                            "--out", str(tmp_path / "out")))
    err = capsys.readouterr().err
    assert code == 2 and problem in err and "line 4" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_an_unknown_asking_role_is_refused(tmp_path, capsys):
    code = main(ladder_args("--questions", str(EXAMPLE / "questions.jsonl"), "--roles", str(EXAMPLE / "roles.json"),
                            "--update", str(EXAMPLE / "brightwater-update"), "--role", "captain",
                            "--out", str(tmp_path / "out")))
    assert code == 2 and "captain" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_the_ladder_can_read_a_qdrant_collection_with_the_same_answers(hybrid, tmp_path):
    qdrant = build_retriever(CORPUS, index=f"qdrant:{tmp_path / 'qdrant'}")
    try:
        assert type(qdrant.dense).__name__ == "QdrantIndex" and len(qdrant.dense) == len(hybrid.dense)
        access = {d.doc_id: d.access for d in CORPUS.documents("v1")}
        for role, labels in CORPUS.roles.items():
            for r in CORPUS.questions("facts")[:10] + CORPUS.questions("restricted")[:3]:
                for view in ("dense", "hybrid"):
                    got = [h.chunk.chunk_id for h in pick_retriever(qdrant, view).search(r.question, k=5, role=role)]
                    want = [h.chunk.chunk_id for h in pick_retriever(hybrid, view).search(r.question, k=5, role=role)]
                    assert got == want, (view, role, r.id)
                    assert all(access[c.split("#")[0]] in labels for c in got)
    finally:
        close_retriever(qdrant)


def test_a_malformed_index_spec_stops_before_any_model_loads(tmp_path, capsys):
    code = main(ladder_args("--questions", str(EXAMPLE / "questions.jsonl"), "--roles", str(EXAMPLE / "roles.json"),
                            "--update", str(EXAMPLE / "brightwater-update"), "--index", "qdrant+ftp://x",
                            "--out", str(tmp_path / "out")))
    assert code == 2 and "index spec" in capsys.readouterr().err and not (tmp_path / "out").exists()
