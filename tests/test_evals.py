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
                      "fabricated_id_rate": 0.25, "accuracy_lenient": 0.5, "mixed_rate": 0.0,
                      "lenient_disagreements": 0, "correct": [1, 0, 1, 0]}


def test_an_id_echoed_from_the_question_is_not_invented():
    kwargs = dict(golds=[["abstain"]], answerable=[False], known_ids=set(), id_patterns=ID_PATTERNS)
    echo = evals.score_answers(["TCK-2024-00186 was closed in May."], questions=["When was TCK-2024-00186 closed?"],
                               **kwargs)
    new = evals.score_answers(["TCK-2024-00999 was closed in May."], questions=["When was TCK-2024-00186 closed?"],
                              **kwargs)
    assert echo["fabricated_id_rate"] == 0.0 and new["fabricated_id_rate"] == 1.0


# ---------------------------------------------------------------------------
# the strict matcher against adversarial replies: each with the verdict a careful human marker gives

KESTRINE = "What is the list price of the Kestrine 700 Sound Meter (QM-2807)?"
ADVERSARIAL = [  # (reply, golds, competing, question, verdict, what it tries)
    ("The return window is 30 days, and 45 days.", ["45 days", "45"], ["30 days", "30"], "", "mixed", "both values"),
    ("2 years, 12 months, and 12 months, which is 2 years, 12 months, and 12 months, respectively",
     ["2 years", "24 months"], ["12 months", "1 year"], "", "mixed", "lab 05's old 'fresh' answer"),
    ("It could be 12, 15 or 20 units.", ["15 units", "15"], [], "", "mixed", "a list of candidates"),
    ("The Quentor 900 Light Sensor is in stock.", ["900 units", "900"], [],
     "How many units of the Quentor 900 Light Sensor are in stock at Wrenholt?", "wrong",
     "the value only inside the restated question"),
    ("Not 12 months but 2 years.", ["2 years"], ["12 months"], "", "right", "a value set aside"),
    ("It is no longer 30 days: it is 45 days.", ["45 days", "45"], ["30 days", "30"], "", "right", "no longer"),
    ("2 years. 2 years. 2 years.", ["2 years"], ["12 months"], "", "right", "a repeated value"),
    ("We have 15 units left.", ["15%", "15 percent"], [], "", "wrong", "a number with another unit"),
    ("As passage [1] says, replies are quick.", ["1 business day", "1"], [], "", "wrong", "a passage marker"),
    ("Refunds take 130 days.", ["30 days", "30"], [], "", "wrong", "a longer number"),
    ("The price is $169.00.", ["$169.00", "169"], ["$700.00"], KESTRINE, "right", "plain"),
    ("The Kestrine 700 Sound Meter (QM-2807) costs $169.", ["$169.00", "169"], ["$700.00", "$139.00"], KESTRINE,
     "right", "numbers echoed from the question"),
    ("It costs 169 dollars, or $139.00 on sale.", ["$169.00", "169"], ["$139.00"], KESTRINE, "mixed",
     "another price of the slot"),
    ("It lists at $1,249.00.", ["$1249.00", "1249"], [], "", "right", "thousands separator"),
    ("It was opened on 2 March 2024.", ["2024-03-02", "2 March 2024", "March 2, 2024"], ["2024-03-05"], "",
     "right", "a date in words"),
    ("Opened 2024-03-05 or 2024-03-02.", ["2024-03-02", "2 March 2024"], ["2024-03-05"], "", "mixed", "two dates"),
    ("It runs firmware 5.8.5.", ["5.8.5", "v5.8.5"], ["5.8.4"], "", "right", "a version"),
    ("Either 5.8.4 or 5.8.5.", ["5.8.5", "v5.8.5"], ["5.8.4"], "", "mixed", "two versions"),
    ("Returns are accepted within 30 days.", ["45 days", "45"], ["30 days", "30"], "", "wrong", "only the old value"),
    ("Refunds take 5 to 7 business days.", ["7 business days", "7"], [], "", "mixed", "a range"),
    ("Refunds take 7 business days.", ["7 business days", "7"], [], "", "right", "a two-word unit"),
    ("The Firmware Team, then Tier 2 Engineering.", ["Firmware Team"], ["Tier 2 Engineering", "Logistics Team"], "",
     "mixed", "another team of the slot"),
    ("The Firmware Team handled it.", ["Firmware Team"], ["Tier 2 Engineering", "Logistics Team"], "", "right",
     "a name"),
]


@pytest.mark.parametrize("reply, golds, competing, question, verdict, tries", ADVERSARIAL,
                         ids=[case[-1] for case in ADVERSARIAL])
def test_the_strict_matcher_judges_each_adversarial_reply_right(reply, golds, competing, question, verdict, tries):
    from labkit.evals import answer_verdict

    assert answer_verdict(reply, golds, competing, question) == verdict


def test_the_lenient_matcher_is_fooled_where_the_strict_one_is_not():
    from labkit.evals import answer_matches

    fooled = [case for case in ADVERSARIAL if case[4] != "right" and answer_matches(case[0], case[1])]
    assert len(fooled) >= 10, "the table must hold the replies that made the lenient matcher untrustworthy"


def test_every_gold_of_the_course_is_right_and_its_competitor_is_not():
    """On the real data: the canonical answer alone is right for every fact and update question; the other
    version's value alone is wrong; both together are mixed."""
    from labkit.course.corpus import course_corpus
    from labkit.evals import answer_verdict

    corpus = course_corpus()
    records = corpus.questions("facts") + corpus.questions("updates")
    misjudged = [r.id for r in records
                 if answer_verdict(f"The answer is {r.answers[0]}.", r.answers, corpus.competing(r), r.question) != "right"]
    assert not misjudged, f"{len(misjudged)} golds misjudged, e.g. {misjudged[:5]}"
    for r in corpus.questions("updates"):
        old, new = r.extra["answers_v1"][0], r.extra["answers_v2"][0]
        competing = corpus.competing(r)
        assert answer_verdict(f"It is {old}.", r.answers, competing, r.question) == "wrong", r.id
        assert answer_verdict(f"It was {old}, now {new}.", r.answers, competing, r.question) == "mixed", r.id
