"""The fine-tuning rung's data: what is trained, what is scored, and that the two never mix."""

import json
import random

from labkit import evals
from labkit.course.corpus import course_corpus
from labkit.ladder.ft import (FACT_SET_NAMES, FactsConfig, fact_rows, fact_sets, format_example, style_adherence,
                       tuned_format_messages)

CORPUS = course_corpus()


def sets(seed=0):
    return fact_sets(CORPUS, FactsConfig(), random.Random(seed))


def test_fact_sets_are_deterministic_and_sized():
    a, b = sets(), sets()
    assert [e.completion for e in a.examples] == [e.completion for e in b.examples]
    assert [r.id for r in a.unseen] == [r.id for r in b.unseen]
    config = FactsConfig()
    assert len(a.examples) == 2 * (config.ticket_facts + config.other_facts) + len(a.updates) + config.known_in_training
    assert all(len(getattr(a, name)) == config.per_set for name in ("trained", "paraphrased", "unseen", "unanswerable"))
    assert [r.id for r in sets(1).unseen] != [r.id for r in a.unseen]


def test_nothing_scored_as_unseen_or_heldout_was_trained():
    s = sets()
    trained_questions = {e.messages[-1]["content"] for e in s.examples}
    trained_facts = {r.extra["fact_id"] for r in CORPUS.questions("facts") if r.question in trained_questions}
    assert {r.extra["fact_id"] for r in s.trained} <= trained_facts
    assert not {r.question for r in s.paraphrased + s.unseen + s.known_heldout + s.unanswerable} & trained_questions
    assert not {r.extra["fact_id"] for r in s.unseen} & trained_facts
    assert {r.extra["fact_id"] for r in s.paraphrased} <= trained_facts
    assert not {r.id for r in s.known_heldout} & {r.id for r in s.known_trained}
    tickets = [r for r in s.unseen if r.extra["field"] == "ticket_id"]
    assert len(tickets) == FactsConfig().per_set // 2  # the invented-id probe


def test_updates_are_trained_with_the_old_value():
    s = sets()
    by_question = {e.messages[-1]["content"]: e.completion for e in s.examples}
    for r in s.updates:
        assert by_question[r.question] == f"{r.extra['answers_v1'][0]}."
        assert not evals.answer_matches(by_question[r.question], r.extra["answers_v2"])


def test_format_examples_are_valid_house_replies_with_a_short_prompt():
    schema = CORPUS.reply_schema
    tasks = CORPUS.tasks("train")
    examples = [format_example(t) for t in tasks]
    assert all(evals.format_compliant(e.completion, schema) for e in examples)
    assert style_adherence([e.completion for e in examples], CORPUS) == 1.0
    prompt = " ".join(m["content"] for m in tuned_format_messages(tasks[0]))
    assert "JSON" not in prompt and tasks[0].ticket_id in prompt  # the format is not in the prompt


def test_style_adherence_needs_the_house_sign_off():
    target = dict(CORPUS.tasks()[0].target)
    assert style_adherence([json.dumps(target)], CORPUS) == 1.0
    target["sign_off"] = "Cheers"
    assert style_adherence([json.dumps(target), "not json"], CORPUS) == 0.0


def test_fact_rows_one_per_set_and_updates_on_v2():
    scores = {"n": 2, "accuracy": 0.5, "hallucination_rate": 0.5, "abstention_rate": 0.0, "fabricated_id_rate": 0.0,
              "prompt_tokens_mean": 10.0, "latency_ms_mean": 1.0}
    rows = fact_rows({name: dict(scores) for name in FACT_SET_NAMES}, {"rung": "ft"}, "facts", train_seconds=3.0)
    assert [r.variant for r in rows] == [f"facts {label}" for label in FACT_SET_NAMES.values()]
    assert {r.corpus_version for r in rows if "updated" in r.variant} == {"v2"}
    assert all(r.train_seconds == 3.0 for r in rows)
    assert [r.question_set for r in rows] == list(FACT_SET_NAMES)
    roles = {r.question_set: r.metric_role for r in rows}
    assert roles["updates"] == "update" and {roles[n] for n in FACT_SET_NAMES if n != "updates"} == {"answers"}
    assert not any(r.headline for r in rows)  # the base model's baseline rows never speak for the rung
    tuned = fact_rows({name: dict(scores) for name in FACT_SET_NAMES}, {"rung": "ft"}, "facts", headline=True)
    assert {r.question_set for r in tuned if r.headline} == {"unseen", "updates"}  # (c) answers, (e) the update
