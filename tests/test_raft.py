"""The RAFT rung's data: oracle + hard distractors, a quoted-and-cited target, and an export the reference tools read.

No model is loaded here: the retriever is a fake with a fixed ranking, and the corpus is chunked with ``str.split``.
"""

import json
import os
import random
import re
from dataclasses import replace
from types import SimpleNamespace

import jsonschema
import pytest

from labkit import evals, prompts
from labkit.course.corpus import course_corpus
from labkit.course.data import QARecord
from labkit.retrieval.chunk import Chunk, ChunkConfig, chunk_documents
from labkit.errors import LabkitError
from labkit.evals import answer_matches
from labkit.retrieval.index import Hit
from labkit.tuning import raft
from labkit.tuning.raft import RaftConfig

CORPUS = course_corpus()


def chunk(doc_id, position=0, text=None, access="public", headings=()):
    return Chunk(f"{doc_id}#{position}", doc_id, 1, access, position, tuple(headings),
                 text if text is not None else f"Passage {position} of {doc_id}.")


class FixedRetriever:
    """``search(query, k, role)`` over a fixed ranking, whatever the query; remembers how it was called."""

    def __init__(self, ranked):
        self.ranked = list(ranked)
        self.calls = []

    def search(self, query, k, role):
        self.calls.append((query, k, role))
        return [Hit(c, 1.0 - i / 100, "fake") for i, c in enumerate(self.ranked[:k])]


def record(rid="q-1", question="How much is the restocking fee on opened items?", answers=("15%", "15 percent"),
           gold=("wiki-returns",)):
    return QARecord(rid, question, tuple(answers), "value", tuple(gold), "v1", "facts",
                         {"fact_id": rid, "split": "train"})


RETURNS = [
    chunk("wiki-returns", 0, "# Returns\nReturns are accepted within 30 days of delivery.", headings=("Returns",)),
    chunk("wiki-returns", 1, "## Fees\nOpened items carry a 15% restocking fee.\nFaulty items carry no fee.",
          headings=("Returns", "Fees")),
]
OTHERS = [chunk(f"wiki-other{i}", 0, f"Other page {i}: shipping takes {i + 2} days.") for i in range(8)]
# the retriever ranks the oracle's own document first (as a real one would), then the others, with repeats
RANKING = [RETURNS[1], RETURNS[0], OTHERS[0], OTHERS[1], OTHERS[0], OTHERS[2], RETURNS[1], OTHERS[3],
           OTHERS[4], OTHERS[5], OTHERS[6], OTHERS[7]]


def eligible(ranked, oracle):
    """The distractor candidates in rank order, computed independently of labkit."""
    out = []
    for c in ranked:
        if c.doc_id != oracle.doc_id and c.chunk_id not in {x.chunk_id for x in out}:
            out.append(c)
    return out


# ---------------------------------------------------------------------------
# sample_distractors


def test_distractors_are_reproducible_for_a_seed_and_vary_across_seeds():
    picks = lambda seed: [c.chunk_id for c in raft.sample_distractors(RANKING, RETURNS[1], 3, random.Random(seed))]
    assert picks(5) == picks(5)
    assert len({tuple(picks(s)) for s in range(20)}) > 1


def test_distractors_are_distinct_even_when_the_ranking_repeats_chunks():
    ranked = RANKING * 3
    for seed in range(30):
        got = raft.sample_distractors(ranked, RETURNS[1], 6, random.Random(seed), pool=6)
        assert len(got) == 6 and len({c.chunk_id for c in got}) == 6


def test_no_distractor_comes_from_the_oracles_document():
    for seed in range(30):
        for n in (1, 3, 6):
            got = raft.sample_distractors(RANKING, RETURNS[1], n, random.Random(seed), pool=6)
            assert all(c.doc_id != "wiki-returns" for c in got)
            assert RETURNS[1] not in got and RETURNS[0] not in got  # not the oracle, not its neighbour


def test_distractors_come_only_from_the_pool_best_ranked_eligible_chunks_and_all_of_it_is_reachable():
    for pool in (2, 4, 6):
        allowed = {c.chunk_id for c in eligible(RANKING, RETURNS[1])[:pool]}
        seen = set()
        for seed in range(60):
            got = raft.sample_distractors(RANKING, RETURNS[1], 2, random.Random(seed), pool=pool)
            assert {c.chunk_id for c in got} <= allowed
            seen |= {c.chunk_id for c in got}
        assert seen == allowed
    assert {c.chunk_id for c in raft.sample_distractors(RANKING, RETURNS[1], 4, random.Random(0), pool=4)} \
        == {"wiki-other0#0", "wiki-other1#0", "wiki-other2#0", "wiki-other3#0"}


def test_the_ranking_passed_in_is_left_alone():
    ranked = list(RANKING)
    raft.sample_distractors(ranked, RETURNS[1], 3, random.Random(0))
    assert ranked == RANKING


def test_too_few_candidates_is_a_labkit_error_that_says_what_to_do():
    ranked = [RETURNS[1], RETURNS[0], OTHERS[0], OTHERS[0], OTHERS[1]]  # two eligible chunks
    with pytest.raises(LabkitError) as caught:
        raft.sample_distractors(ranked, RETURNS[1], 3, random.Random(0))
    err = caught.value
    assert "2" in err.problem and "3" in err.problem and "distractor" in err.problem
    assert err.fix
    assert len(raft.sample_distractors(ranked, RETURNS[1], 2, random.Random(0))) == 2  # two is enough
    with pytest.raises(LabkitError):
        raft.sample_distractors([RETURNS[0]], RETURNS[1], 1, random.Random(0))


def test_only_the_rng_passed_in_is_used(monkeypatch):
    random.seed(1)
    a = raft.sample_distractors(RANKING, RETURNS[1], 3, random.Random(0))
    random.seed(2)
    b = raft.sample_distractors(RANKING, RETURNS[1], 3, random.Random(0))
    assert a == b

    def boom(*args, **kwargs):
        raise AssertionError("the global random module was used")

    for name in ("random", "sample", "shuffle", "choice", "choices", "randrange", "randint"):
        monkeypatch.setattr(random, name, boom)
    assert raft.sample_distractors(RANKING, RETURNS[1], 3, random.Random(0)) == a


# ---------------------------------------------------------------------------
# oracle_chunk and the quote


def test_oracle_is_the_chunk_whose_line_is_closest_to_the_question():
    footer = chunk("ticket-TCK-2023-00557", 0, "# Ticket TCK-2023-00557: calibration drift\n\n"
                   "_Quillmoor Instruments · version 1 · effective 2023-11-15 · access: staff_", "staff")
    table = chunk("ticket-TCK-2023-00557", 1, "| Field | Value |\n| --- | --- |\n| Opened | 2023-10-31 |\n"
                  "| Closed | 2023-11-15 |", "staff")
    r = record("t-1", "On what date was ticket TCK-2023-00557 closed?", ("2023-11-15", "15 November 2023"),
               ("ticket-TCK-2023-00557",))
    assert raft.oracle_chunk(r, {"ticket-TCK-2023-00557": [footer, table]}) == table
    assert raft.oracle_chunk(r, {"ticket-TCK-2023-00557": [table, footer]}) == table
    assert raft.evidence_quote(table.text, r.answers, question=r.question) == "| Closed | 2023-11-15 |"


def test_of_several_answer_lines_the_quote_is_the_one_closest_to_the_question():
    text = "_version 1 · effective 2023-11-15_\n| Opened | 2023-11-15 |\n| Closed | 2023-11-15 |"
    assert raft.evidence_quote(text, ["2023-11-15"], question="When was it closed?") == "| Closed | 2023-11-15 |"
    assert raft.evidence_quote(text, ["2023-11-15"], question="When was it opened?") == "| Opened | 2023-11-15 |"
    assert raft.evidence_quote(text, ["2023-11-15"]) == "_version 1 · effective 2023-11-15_"  # a tie: the first


def test_oracle_is_none_when_no_gold_chunk_holds_the_answer():
    r = record(answers=("45%",))
    assert raft.oracle_chunk(r, {"wiki-returns": RETURNS}) is None
    assert raft.oracle_chunk(record(gold=("wiki-missing",)), {"wiki-returns": RETURNS}) is None
    assert raft.build_example(r, {"wiki-returns": RETURNS}, FixedRetriever(RANKING), RaftConfig(), random.Random(0)) \
        is None


def test_oracle_on_the_real_corpus_picks_the_table_row_not_the_page_footer(course_chunks):
    (r,) = [q for q in CORPUS.questions("facts") if q.id == "fact-0317-p0"]
    assert r.canonical == "2023-11-15" and "closed" in r.question
    by_doc = {}
    for c in course_chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    assert sum("2023-11-15" in c.text for c in by_doc[r.gold_doc_ids[0]]) >= 2  # the footer holds the date too
    oracle = raft.oracle_chunk(r, by_doc)
    assert "| Closed | 2023-11-15 |" in oracle.text


def test_a_long_line_is_cut_to_a_verbatim_word_run_around_the_answer():
    line = " ".join(f"w{i}" for i in range(40)) + " fee is 15% on opened items " + " ".join(f"v{i}" for i in range(40))
    quote = raft.evidence_quote("# Fees\n" + line, ["15%"], max_words=24)
    assert len(quote.split()) == 24 and "15%" in quote and quote in line


def test_a_long_line_with_a_long_answer_is_cut_around_it():
    answer = "cleaned the vents and replaced the fan"
    line = " ".join(f"w{i}" for i in range(30)) + f" The team {answer} and closed it."
    quote = raft.evidence_quote(line, [answer], max_words=24)
    assert answer in quote and quote in line


def test_a_short_quote_still_holds_the_answer():
    quote = raft.evidence_quote("| Brackenfold (BFD) | 117 units |", ["117 units", "117"], max_words=4)
    assert answer_matches(quote, ["117 units", "117"]), quote


# ---------------------------------------------------------------------------
# build_example / build_set on a synthetic corpus


def build(keep=None, config=RaftConfig(), seed=0, retriever=None):
    return raft.build_example(record(), {"wiki-returns": RETURNS}, retriever or FixedRetriever(RANKING), config,
                              random.Random(seed), keep_oracle=keep)


def test_a_kept_oracle_is_cited_by_its_place_in_the_passages():
    for seed in range(20):
        e = build(keep=True, seed=seed)
        assert e.has_oracle and e.oracle == RETURNS[1] and e.oracle in e.passages
        assert len(e.passages) == RaftConfig().distractors + 1 == len({c.chunk_id for c in e.passages})
        target = json.loads(e.target)
        assert e.passages[target["passage"] - 1] == e.oracle
        assert raft.cited_passage(e.target) == [target["passage"]]
        user = e.messages()[-1]["content"]
        assert f"[{target['passage']}] (wiki-returns) {e.oracle.searchable_text}" in user
        assert user.endswith(f"Question: {e.question}")


def test_the_oracle_is_not_always_in_the_same_place():
    places = {build(keep=True, seed=seed).passages.index(RETURNS[1]) + 1 for seed in range(30)}
    assert places == {1, 2, 3}


def test_an_example_without_the_oracle_has_as_many_passages_and_cites_none():
    for seed in range(20):
        e = build(keep=False, seed=seed)
        assert not e.has_oracle and e.oracle not in e.passages
        assert all(c.doc_id != "wiki-returns" for c in e.passages)
        assert len(e.passages) == RaftConfig().distractors + 1
        target = json.loads(e.target)
        assert target["passage"] is None and raft.cited_passage(e.target) == []
        assert target["answer"] == "15%" and target["quote"] == e.quote  # the same target, oracle or not


def test_with_abstain_an_example_without_the_oracle_says_the_passages_do_not_answer():
    config = RaftConfig(without_oracle="abstain")
    for seed in range(10):
        missing, kept = build(keep=False, config=config, seed=seed), build(keep=True, config=config, seed=seed)
        target = json.loads(missing.target)
        assert target == {"quote": "", "passage": None, "answer": prompts.ABSTAIN_ANSWER}
        assert evals.is_abstention(raft.final_answer(missing.target))
        assert json.loads(kept.target)["answer"] == "15%"  # with the oracle the answer is unchanged
        assert jsonschema.Draft202012Validator(raft.ANSWER_SCHEMA).is_valid(target)


def test_an_unknown_without_oracle_target_is_refused_with_the_choices():
    with pytest.raises(LabkitError, match="without_oracle") as err:
        RaftConfig(without_oracle="guess")
    assert "abstain" in str(err.value)


def test_distractors_in_an_example_come_from_the_retrievers_top_of_other_documents():
    retriever = FixedRetriever(RANKING)
    config = RaftConfig(pool=4, role="customer")
    allowed = {c.chunk_id for c in eligible(RANKING, RETURNS[1])[:4]}
    for seed in range(20):
        e = build(config=config, seed=seed, retriever=retriever)
        assert {c.chunk_id for c in e.passages if c != e.oracle} <= allowed
    assert all(q == record().question and k >= config.pool and role == "customer" for q, k, role in retriever.calls)


def test_quote_is_the_verbatim_evidence_line_and_targets_validate():
    for keep in (True, False):
        e = build(keep=keep)
        assert e.quote == "Opened items carry a 15% restocking fee." and e.quote in e.oracle.text
        value = json.loads(e.target)
        jsonschema.validate(value, raft.ANSWER_SCHEMA)
        assert set(value) == {"quote", "passage", "answer"}
        assert raft.final_answer(e.target) == e.answer == "15%"
        assert e.to_example().completion == e.target and e.to_example().messages == e.messages()


def test_the_schema_rejects_what_a_target_must_not_be():
    validator = jsonschema.Draft202012Validator(raft.ANSWER_SCHEMA)
    good = {"quote": "q", "passage": 1, "answer": "a"}
    assert validator.is_valid(good) and validator.is_valid({**good, "passage": None})
    for bad in ({**good, "passage": 0}, {**good, "answer": ""}, {"quote": "q", "answer": "a"}, {**good, "extra": 1},
                {**good, "passage": "1"}):
        assert not validator.is_valid(bad), bad


def test_text_targets_quote_cite_and_end_with_the_answer():
    config = RaftConfig(json_target=False)
    kept, dropped = build(keep=True, config=config), build(keep=False, config=config)
    for e in (kept, dropped):
        assert raft.BEGIN_QUOTE in e.target and raft.END_QUOTE in e.target
        assert e.target.endswith("<ANSWER>: 15%")
        assert f"{raft.BEGIN_QUOTE}{e.quote}{raft.END_QUOTE}" in e.target
        assert raft.final_answer(e.target) == "15%"
    number = kept.passages.index(kept.oracle) + 1
    assert f"{raft.END_QUOTE} [{number}] <ANSWER>:" in kept.target and raft.cited_passage(kept.target) == [number]
    assert f"{raft.END_QUOTE} <ANSWER>:" in dropped.target and raft.cited_passage(dropped.target) == []


def synthetic_records(n):
    """n questions about n pages, each page two chunks, the answer in the second."""
    records, chunks = [], []
    for i in range(n):
        doc = f"wiki-page{i}"
        chunks += [chunk(doc, 0, f"# Page {i}\nGeneral text about page {i}."),
                   chunk(doc, 1, f"## Limits\nThe limit for page {i} is {100 + i} units.")]
        records.append(record(f"q-{i}", f"What is the limit for page {i}?", (f"{100 + i} units", str(100 + i)),
                              (doc,)))
    return records, chunks


def test_p_oracle_one_keeps_every_oracle_and_zero_keeps_none():
    records, chunks = synthetic_records(30)
    retriever = FixedRetriever(chunks)
    always = raft.build_set(records, chunks, retriever, RaftConfig(p_oracle=1.0), random.Random(1))
    never = raft.build_set(records, chunks, retriever, RaftConfig(p_oracle=0.0), random.Random(1))
    assert len(always) == len(never) == 30
    for e in always:
        assert e.has_oracle and e.passages[json.loads(e.target)["passage"] - 1] == e.oracle
    for e in never:
        assert not e.has_oracle and e.oracle not in e.passages and json.loads(e.target)["passage"] is None
    assert {len(e.passages) for e in always + never} == {RaftConfig().distractors + 1}


def test_building_twice_with_one_seed_gives_the_same_set():
    records, chunks = synthetic_records(25)
    config = RaftConfig(p_oracle=0.5)
    a = raft.build_set(records, chunks, FixedRetriever(chunks), config, random.Random(3))
    b = raft.build_set(records, chunks, FixedRetriever(chunks), config, random.Random(3))
    c = raft.build_set(records, chunks, FixedRetriever(chunks), config, random.Random(4))
    assert a == b and a != c
    assert raft.build_set(records, chunks, FixedRetriever(chunks), config) == \
        raft.build_set(records, chunks, FixedRetriever(chunks), config, random.Random(0))


def test_records_without_an_answer_chunk_are_dropped():
    records, chunks = synthetic_records(5)
    records.append(record("q-lost", "What is the limit for page 99?", ("999 units",), ("wiki-page0",)))
    built = raft.build_set(records, chunks, FixedRetriever(chunks))
    assert [e.record_id for e in built] == [f"q-{i}" for i in range(5)]


# ---------------------------------------------------------------------------
# build_set on the course data (chunked with str.split; the retriever is still the fake)


@pytest.fixture(scope="module")
def course_chunks():
    return chunk_documents(CORPUS.documents("v1"), ChunkConfig("markdown", 200), str.split, progress=False)


@pytest.fixture(scope="module")
def course_set(course_chunks):
    records = raft.training_records(CORPUS, random.Random(0), 200)
    ranking = random.Random(5).sample(course_chunks, 60)  # a fixed, query-blind ranking
    return records, raft.build_set(records, course_chunks, FixedRetriever(ranking), RaftConfig(), random.Random(0))


def test_about_p_oracle_of_the_course_examples_keep_the_oracle(course_set):
    records, examples = course_set
    assert len(examples) == len(records) == 200  # every training question has an answer chunk
    share = sum(e.has_oracle for e in examples) / len(examples)
    assert 0.7 <= share <= 0.9, share


def test_course_quotes_are_verbatim_evidence_holding_the_answer(course_set):
    records, examples = course_set
    by_id = {r.id: r for r in records}
    for e in examples:
        r = by_id[e.record_id]
        assert e.oracle.doc_id in r.gold_doc_ids and e.answer == r.canonical
        lines = [" ".join(line.split()) for line in e.oracle.text.splitlines()]
        assert e.quote in e.oracle.text or any(" ".join(e.quote.split()) in line for line in lines), e.quote
        assert answer_matches(e.quote, r.answers), (e.record_id, e.quote)
        value = json.loads(e.target)
        jsonschema.validate(value, raft.ANSWER_SCHEMA)
        if e.has_oracle:
            assert e.passages[value["passage"] - 1] == e.oracle
        else:
            assert value["passage"] is None and all(c.doc_id not in r.gold_doc_ids for c in e.passages)


# ---------------------------------------------------------------------------
# reading replies back


def test_final_answer_reads_json_tagged_and_plain_replies():
    assert raft.final_answer('{"quote": "Fee is 15%.", "passage": 2, "answer": "20%"}') == "20%"  # not the quote
    assert raft.final_answer('Here it is: {"quote": "x", "passage": null, "answer": "30 days"} done.') == "30 days"
    assert raft.final_answer("##begin_quote##Fee: 15%.##end_quote## [2] <ANSWER>: 15% ") == "15%"
    assert raft.final_answer("<ANSWER>: 10% <ANSWER>: 15%") == "15%"
    assert raft.final_answer("##begin_quote##a {b} c##end_quote## <ANSWER>: 30 days") == "30 days"
    assert raft.final_answer("It is 30 days.") == "It is 30 days."
    assert raft.final_answer("") == ""


def test_final_answer_falls_back_on_malformed_or_odd_json():
    assert raft.final_answer('{"quote": "x", "answer": "15%" <ANSWER>: 20%') == "20%"  # never closed
    assert raft.final_answer('{"quote": "x", "answer": 15} <ANSWER>: 15') == "15"  # answer not a string
    assert raft.final_answer('{"answer": "15%",}') == '{"answer": "15%",}'  # trailing comma: the whole reply
    assert raft.final_answer('["15%"]') == '["15%"]'


def test_cited_passage_reads_json_and_bracket_citations():
    assert raft.cited_passage(raft.json_target("q", 3, "a")) == [3]
    assert raft.cited_passage(raft.json_target("q", None, "a")) == []
    assert raft.cited_passage(raft.text_target("q", 2, "a")) == [2]
    assert raft.cited_passage(raft.text_target("q", None, "a")) == []
    assert raft.cited_passage("see [1] and [3]") == [1, 3]
    assert raft.cited_passage('{"passage":4}') == [4]
    assert raft.cited_passage("no citation") == []


# ---------------------------------------------------------------------------
# training_records


def test_training_records_are_train_split_one_per_fact_and_readable():
    records = raft.training_records(CORPUS, random.Random(0), 50)
    assert len(records) == 50
    assert {r.extra["split"] for r in records} == {"train"}
    assert len({r.extra["fact_id"] for r in records}) == 50
    access = {d.doc_id: d.access for d in CORPUS.documents("v1")}
    updates = CORPUS.questions("updates")
    for r in records:
        assert all(access[d] in CORPUS.roles["agent"] for d in r.gold_doc_ids), r.id
        assert not raft.changes_later(r, updates)
    customer = raft.training_records(CORPUS, random.Random(0), 20, role="customer")
    assert all(access[d] == "public" for r in customer for d in r.gold_doc_ids)


def test_training_records_are_seeded():
    ids = lambda seed: [r.id for r in raft.training_records(CORPUS, random.Random(seed), 30)]
    assert ids(0) == ids(0) and ids(0) != ids(1)


def qualifying_facts():
    """How many facts training_records may draw from, read back from its own error."""
    with pytest.raises(LabkitError) as caught:
        raft.training_records(CORPUS, random.Random(0), 10_000)
    return int(re.search(r"only (\d+) facts qualify", caught.value.problem).group(1))


def test_asking_for_more_training_records_than_exist_is_a_labkit_error():
    total = qualifying_facts()
    train_facts = {r.extra["fact_id"] for r in CORPUS.questions("facts") if r.extra["split"] == "train"}
    assert 50 < total <= len(train_facts)
    assert len(raft.training_records(CORPUS, random.Random(0), total)) == total  # all of them is fine
    with pytest.raises(LabkitError, match=f"only {total} facts qualify") as caught:
        raft.training_records(CORPUS, random.Random(0), total + 1)
    assert str(total) in caught.value.fix


def test_a_fact_the_change_log_changes_is_never_trained():
    total = qualifying_facts()
    victim = raft.training_records(CORPUS, random.Random(0), total)[0]
    update = QARecord("upd-X", victim.question, ("new value",), "value", victim.gold_doc_ids, "v2", "updates",
                           {"answers_v1": list(victim.answers), "answers_v2": ["new value"], "field": "x"})
    assert raft.changes_later(victim, [update])
    changed = replace(CORPUS, question_sets={**CORPUS.question_sets,
                                             "updates": (*CORPUS.question_sets["updates"], update)})
    kept = raft.training_records(changed, random.Random(0), total - 1)
    assert victim.extra["fact_id"] not in {r.extra["fact_id"] for r in kept}
    with pytest.raises(LabkitError):
        raft.training_records(changed, random.Random(0), total)


def test_changes_later_needs_the_same_document_and_the_old_value():
    r = record(answers=("30 days", "30"), gold=("wiki-returns",))
    update = lambda gold, old: SimpleNamespace(gold_doc_ids=(gold,), extra={"answers_v1": old})
    assert raft.changes_later(r, [update("wiki-returns", ["30 days", "30"])])
    assert not raft.changes_later(r, [update("wiki-shipping", ["30 days", "30"])])
    assert not raft.changes_later(r, [update("wiki-returns", ["130 days", "130"])])
    assert not raft.changes_later(r, [])


# ---------------------------------------------------------------------------
# export in the reference (gorilla raft.py) fields


@pytest.fixture
def examples():
    records, chunks = synthetic_records(6)
    return raft.build_set(records, chunks, FixedRetriever(chunks), RaftConfig(p_oracle=0.5), random.Random(2))


def test_reference_records_have_the_gorilla_fields(examples):
    assert {e.has_oracle for e in examples} == {True, False}
    for i, e in enumerate(examples):
        rec = raft.to_reference_record(e, i)
        assert set(rec) == {"id", "type", "question", "context", "oracle_context", "cot_answer", "instruction"}
        assert rec["id"] == f"seed_task_{i}" and rec["question"] == e.question
        titles, sentences = rec["context"]["title"], rec["context"]["sentences"]
        assert len(titles) == len(sentences) == 1
        assert titles[0] == [c.doc_id for c in e.passages]
        assert sentences[0] == [c.searchable_text for c in e.passages]
        assert rec["oracle_context"] == e.oracle.searchable_text
        assert rec["instruction"].count("<DOCUMENT>") == rec["instruction"].count("</DOCUMENT>") == len(e.passages)
        assert rec["instruction"].endswith(e.question)
        for text in sentences[0]:
            assert f"<DOCUMENT>{text}</DOCUMENT>" in rec["instruction"]
        assert "<ANSWER>:" in rec["cot_answer"] and rec["cot_answer"].endswith(f"<ANSWER>: {e.answer}")
        cited = raft.cited_passage(rec["cot_answer"])
        assert cited == ([e.passages.index(e.oracle) + 1] if e.has_oracle else [])


def test_export_writes_one_json_line_per_example_and_no_temp_file(examples, tmp_path):
    path = raft.export_jsonl(examples, tmp_path / "out" / "raft.jsonl")
    assert path == tmp_path / "out" / "raft.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [raft.to_reference_record(e, i) for i, e in enumerate(examples)]
    assert os.listdir(path.parent) == ["raft.jsonl"]


def fail_on_second_dumps(monkeypatch):
    calls = []

    def dumps(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return json.dumps(*args, **kwargs)

    monkeypatch.setattr(raft, "json", SimpleNamespace(dumps=dumps, loads=json.loads))


def test_a_failed_export_leaves_the_previous_file(examples, tmp_path, monkeypatch):
    path = tmp_path / "raft.jsonl"
    raft.export_jsonl(examples[:2], path)
    before = path.read_bytes()
    fail_on_second_dumps(monkeypatch)
    with pytest.raises(RuntimeError):
        raft.export_jsonl(examples, path)
    assert path.read_bytes() == before


def test_a_failed_export_leaves_no_temp_file(examples, tmp_path, monkeypatch):
    path = tmp_path / "raft.jsonl"
    raft.export_jsonl(examples[:2], path)
    fail_on_second_dumps(monkeypatch)
    with pytest.raises(RuntimeError):
        raft.export_jsonl(examples, path)
    assert os.listdir(tmp_path) == ["raft.jsonl"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_export_into_a_read_only_folder_fails_and_keeps_the_old_file(examples, tmp_path):
    path = tmp_path / "raft.jsonl"
    raft.export_jsonl(examples[:2], path)
    before = path.read_bytes()
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(OSError):
            raft.export_jsonl(examples, path)
    finally:
        os.chmod(tmp_path, 0o755)
    assert path.read_bytes() == before


# siblings and ranked order (the both rung's choice for a corpus of small chunks)


def test_sibling_distractors_never_hold_the_answer_nor_repeat_the_oracle():
    page = [Chunk(f"p#{i}", "p", 1, "public", i, (), t)
            for i, t in enumerate(["Stock: 4 units", "Price: $9", "Released 2020", "Also 4 units here"])]
    others = [Chunk(f"o{i}#0", f"o{i}", 1, "public", 0, (), t) for i, t in enumerate(["4 units", "x", "y"])]
    ranked = page + others + page
    for seed in range(30):
        got = raft.sample_distractors(ranked, page[0], 3, random.Random(seed), pool=4, answers=["4 units"])
        assert len({c.chunk_id for c in got}) == 3
        assert page[0] not in got and all("4 units" not in c.text for c in got)
    drawn = {c.chunk_id for seed in range(30)
             for c in raft.sample_distractors(ranked, page[0], 2, random.Random(seed), pool=4, answers=["4 units"])}
    assert {"p#1", "p#2"} <= drawn  # the oracle's own page competes
    assert not {c.doc_id for c in raft.sample_distractors(ranked, page[0], 2, random.Random(0))} & {"p"}  # the default: other documents


def test_ranked_order_puts_the_passages_as_the_retriever_ranks_them_and_shuffled_does_not_always():
    ranked_config, shuffled_config = RaftConfig(order="ranked", siblings=True), RaftConfig(siblings=True)
    rank = {c.chunk_id: i for i, c in enumerate(RANKING)}
    orders = set()
    for seed in range(20):
        e = build(config=ranked_config, seed=seed)
        positions = [rank.get(c.chunk_id, len(RANKING)) for c in e.passages]
        assert positions == sorted(positions)
        s = build(config=shuffled_config, seed=seed)
        assert {c.chunk_id for c in s.passages} == {c.chunk_id for c in e.passages}  # the same draw, another order
        orders.add(tuple(rank.get(c.chunk_id, len(RANKING)) for c in s.passages))
    assert any(list(o) != sorted(o) for o in orders)
    with pytest.raises(LabkitError, match="order"):
        RaftConfig(order="alphabetical")


def test_when_the_answer_is_everywhere_the_sibling_sampler_searches_deeper_and_says_when_it_cannot():
    holding = [chunk(f"stock{i}", 0, f"Stock at site {i}: 15% of units.") for i in range(20)]  # all hold "15%"
    deep = FixedRetriever([RETURNS[1], *holding, *OTHERS])
    e = build(keep=True, config=RaftConfig(siblings=True), retriever=deep)
    assert all("15%" not in c.text for c in e.passages if c != e.oracle) and len(e.passages) == 3
    assert [k for _, k, _ in deep.calls] == [14, 56]  # pool + 8, then four times deeper
    shallow = FixedRetriever([RETURNS[1], *holding, OTHERS[0]])  # one usable chunk in the whole index
    with pytest.raises(LabkitError, match="distractor candidates"):
        build(keep=True, config=RaftConfig(siblings=True), retriever=shallow)
