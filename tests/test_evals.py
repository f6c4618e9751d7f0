import json

import pytest

from labkit import evals
from labkit.course.corpus import course_corpus

COURSE = course_corpus()
ID_PATTERNS = COURSE.id_patterns


@pytest.mark.parametrize("answer, golds, expected", [
    ("The fee is 15%.", ["15%", "15 percent"], True),
    ("It is 115 percent", ["15 percent"], False),
    ("Firmware 4.2.10 fixed it", ["4.2.1"], False),
    ("It costs $1,249.00", ["$1249.00"], True),
    ("the Tarnwick warehouse", ["Tarnwick"], True),
])
def test_answer_matches_on_whole_tokens(answer, golds, expected):
    assert evals.answer_matches(answer, golds) is expected


@pytest.mark.parametrize("text", ["I don't know.", "The passages do not mention it.", "I cannot answer that.",
                                  "There is no information about parental leave.", "I'm not sure."])
def test_abstentions_are_recognised(text):
    assert evals.is_abstention(text)


@pytest.mark.parametrize("text", ["The return window is 30 days.", "Ticket TCK-2024-00417.", "Know your rights."])
def test_answers_are_not_abstentions(text):
    assert not evals.is_abstention(text)


def test_fabricated_ids_against_the_real_corpus():
    corpus = COURSE.documents("v1")
    known = evals.corpus_ids((d.text for d in corpus), ID_PATTERNS)
    tickets = [d for d in corpus if d.kind == "ticket"]
    assert len([k for k in known if k.startswith("TCK-")]) >= len(tickets)
    real = sorted(k for k in known if k.startswith("TCK-"))[0]
    invented = "TCK-2019-99999"
    assert invented not in known
    assert evals.fabricated_ids(f"See {real} and {invented}.", known, ID_PATTERNS) == [invented]
    assert known <= COURSE.known_ids and invented not in COURSE.known_ids  # the corpus's own list, every version


def test_citation_scores_edges():
    assert evals.citation_scores([], ["a"]) == (None, 0.0)
    assert evals.citation_scores(["a"], []) == (0.0, None)
    assert evals.citation_scores(["a", "b"], ["a", "c"]) == (0.5, 0.5)


def test_every_format_target_complies_and_keeps_the_house_voice():
    schema = COURSE.reply_schema
    for task in COURSE.tasks():
        assert evals.format_compliant(json.dumps(task.target), schema)
        assert evals.style_violations(task.target, COURSE.forbidden_phrases, COURSE.sign_off) == []


def test_format_failures():
    schema = COURSE.reply_schema
    target = dict(COURSE.tasks()[0].target)
    assert evals.format_compliant("Here you go: " + json.dumps(target) + " Thanks!", schema)
    broken = dict(target, sign_off="Cheers")
    assert not evals.format_compliant(json.dumps(broken), schema)
    assert not evals.format_compliant(json.dumps(target)[:-5], schema)  # cut off mid-way
    extra = dict(target, mood="happy")
    assert not evals.format_compliant(json.dumps(extra), schema)


def test_staleness():
    assert evals.is_stale("Returns within 30 days", ["30 days"], ["45 days"])
    assert not evals.is_stale("Now 45 days (it was 30 days)", ["30 days"], ["45 days"])
    assert not evals.is_stale("No idea", ["30 days"], ["45 days"])


def test_score_answers_separates_hallucination_from_abstention():
    scores = evals.score_answers(
        answers=["30 days", "TCK-2020-00001", "I don't know", "It is 12 weeks"],
        golds=[["30 days"], ["TCK-2024-00417"], ["abstain"], ["abstain"]],
        answerable=[True, True, False, False], known_ids={"TCK-2024-00417"}, id_patterns=ID_PATTERNS)
    assert scores == {"n": 4, "accuracy": 0.5, "hallucination_rate": 0.5, "abstention_rate": 0.25,
                      "fabricated_id_rate": 0.25}


def test_an_id_echoed_from_the_question_is_not_invented():
    kwargs = dict(golds=[["abstain"]], answerable=[False], known_ids=set(), id_patterns=ID_PATTERNS)
    echo = evals.score_answers(["TCK-2024-00186 was closed in May."], questions=["When was TCK-2024-00186 closed?"],
                               **kwargs)
    new = evals.score_answers(["TCK-2024-00999 was closed in May."], questions=["When was TCK-2024-00186 closed?"],
                              **kwargs)
    assert echo["fabricated_id_rate"] == 0.0 and new["fabricated_id_rate"] == 1.0
