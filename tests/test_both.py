"""labkit.ladder.both without a model: how replies are scored, and the passages each variant is given."""

from labkit.course.corpus import course_corpus
from labkit.course.data import QARecord
from labkit.ladder.both import Passages, probe_passages, retrieved, score_row
from labkit.retrieval.chunk import Chunk
from labkit.generate import Answer
from labkit.retrieval.index import Hit
from labkit.tuning.raft import RaftConfig

CORPUS = course_corpus()


def record(question="What is the restocking fee?", answers=("15%",), gold=("wiki-returns",), set_name="qa_facts"):
    answer_type = "abstain" if answers == ("abstain",) else "value"
    return QARecord("q1", question, answers, answer_type, gold, "v1", set_name)


def chunk(doc_id, text="x", position=0):
    return Chunk(f"{doc_id}#{position}", doc_id, 1, "public", position, (), text)


def reply(text):
    return Answer(text, prompt_tokens=10, completion_tokens=5, latency_ms=1.0)


def test_a_value_inside_the_quote_earns_nothing_only_the_final_answer_counts():
    passages = Passages("top-2", [[chunk("wiki-returns", "Fee: 15%."), chunk("wiki-other")]])
    quoted = reply('{"quote": "Fee: 15%.", "passage": 1, "answer": "20%"}')
    right = reply('{"quote": "Fee: 15%.", "passage": 1, "answer": "15%"}')
    assert score_row(CORPUS, [quoted], [record()], passages, "v", {"rung": "both"}).accuracy == 0.0
    assert score_row(CORPUS, [right], [record()], passages, "v", {"rung": "both"}).accuracy == 1.0


def test_citations_come_from_the_json_passage_number_and_the_format_is_checked_only_when_asked():
    passages = Passages("top-2", [[chunk("wiki-other"), chunk("wiki-returns", "Fee: 15%.")]])
    good = reply('{"quote": "Fee: 15%.", "passage": 2, "answer": "15%"}')
    row = score_row(CORPUS, [good], [record()], passages, "v", {"rung": "both"}, json_format=True)
    assert (row.citation_precision, row.citation_recall, row.format_compliance) == (1.0, 1.0, 1.0)
    wrong_cite = reply('{"quote": "Fee: 15%.", "passage": 1, "answer": "15%"}')
    assert score_row(CORPUS, [wrong_cite], [record()], passages, "v", {"rung": "both"}).citation_recall == 0.0
    broken = reply('{"quote": "Fee: 15%.", "passage": "Fee", "answer": "15%"}')  # passage must be a number
    broken_row = score_row(CORPUS, [broken], [record()], passages, "v", {"rung": "both"}, json_format=True)
    assert broken_row.format_compliance == 0.0
    assert score_row(CORPUS, [good], [record()], passages, "v", {"rung": "both"}).format_compliance is None


def test_golds_override_scores_against_another_value():
    passages = Passages("top-1", [[chunk("wiki-returns")]])
    answer = reply("<ANSWER>: 45 days")
    rec = record(answers=("30 days",))
    assert score_row(CORPUS, [answer], [rec], passages, "v", {"rung": "both"}).accuracy == 0.0
    assert score_row(CORPUS, [answer], [rec], passages, "v", {"rung": "both"}, golds=[["45 days"]]).accuracy == 1.0


class Ranked:
    """A retriever that always returns the same ranking (and records the roles it was asked for)."""

    def __init__(self, chunks):
        self.chunks, self.roles = chunks, []

    def search(self, query, k=5, role=None):
        self.roles.append(role)
        return [Hit(c, 1.0 / (i + 1)) for i, c in enumerate(self.chunks[:k])]


def test_retrieved_passages_are_the_top_k_for_the_role():
    retriever = Ranked([chunk(f"d{i}") for i in range(6)])
    got = retrieved(retriever, [record(), record()], k=3, role="customer")
    assert [[c.doc_id for c in p] for p in got.per_question] == [["d0", "d1", "d2"]] * 2
    assert retriever.roles == ["customer", "customer"]


def test_probes_give_the_oracle_alone_or_distractors_alone_never_both():
    oracle = chunk("wiki-returns", "Opened items carry a 15% restocking fee.", 1)
    others = [chunk(f"d{i}") for i in range(8)]
    retriever = Ranked([oracle] + others)
    import random

    only, distract = probe_passages([record()], [oracle] + others, retriever, RaftConfig(distractors=2),
                                    random.Random(0))
    assert only.per_question == [[oracle]]
    assert len(distract.per_question[0]) == 3 and oracle not in distract.per_question[0]
    assert all(c.doc_id != "wiki-returns" for c in distract.per_question[0])


def test_the_retriever_is_checked_and_each_name_picks_its_view():
    import pytest

    from labkit.errors import LabkitError
    from labkit.ladder.both import BothConfig
    from labkit.ladder.rag import RETRIEVERS, pick_retriever

    with pytest.raises(LabkitError, match="bm25"):
        BothConfig(retriever="bm52")
    hybrid = type("Hybrid", (), {"dense": "dense index", "lexical": "bm25 index"})()
    assert [pick_retriever(hybrid, name) for name in RETRIEVERS] == ["bm25 index", hybrid, "dense index"]
    assert pick_retriever(hybrid) == "bm25 index"  # the course reader: what the rag and both rungs read
    with pytest.raises(LabkitError, match="choose one of"):
        pick_retriever(hybrid, "bm52")
    assert BothConfig().raft.without_oracle == "abstain" and BothConfig().json_only
    with pytest.raises(LabkitError, match="abstain_quantile=None"):  # no term statistics, no coverage gate
        BothConfig(retriever="dense")
    assert BothConfig(retriever="dense", abstain_quantile=None).retriever == "dense"


class Covering(Ranked):
    """A ranked retriever that also measures coverage: full for questions about fees, none otherwise."""

    def coverage(self, query, chunks):
        return 1.0 if "fee" in query else 0.0


def test_a_gated_question_abstains_in_the_json_format_and_the_model_is_never_asked():
    from labkit.ladder.both import answer_with
    from labkit.evals import format_compliant, is_abstention
    from labkit.tuning.raft import ANSWER_SCHEMA, final_answer

    retriever = Covering([chunk(f"d{i}") for i in range(3)])
    records = [record(), record(question="How many weeks of parental leave are there?", answers=("abstain",), gold=(),
                                set_name="unanswerable")]
    got = retrieved(retriever, records, k=2, min_coverage=0.5)
    assert got.gated == [False, True] and [len(p) for p in got.per_question] == [2, 2]
    assert retrieved(retriever, records, k=2).gated == [False, False]  # no gate unless asked
    only_gated = Passages(got.name, got.per_question[1:], got.gated[1:])
    (answer,) = answer_with(None, None, records[1:], only_gated, json_only=True)  # no model: it must not be called
    assert format_compliant(answer.text, ANSWER_SCHEMA) and is_abstention(final_answer(answer.text))
    assert answer.prompt_tokens == 0
    (plain,) = answer_with(None, None, records[1:], only_gated)
    assert is_abstention(plain.text)


def test_the_gates_canned_abstentions_are_abstentions_not_format_compliant_replies():
    from labkit.ladder.both import answer_with, format_row

    retriever = Covering([chunk(f"d{i}") for i in range(3)])
    unanswerable = record(question="How many weeks of parental leave are there?", answers=("abstain",), gold=(),
                          set_name="unanswerable")
    records = [record(), unanswerable]
    got = retrieved(retriever, records, k=2, min_coverage=0.5)
    written = reply('{"quote": "Fee", "passage": "one", "answer": "15%"}')  # the model's reply: off the schema
    (canned,) = answer_with(None, None, [unanswerable], Passages(got.name, got.per_question[1:], got.gated[1:]),
                            json_only=True)
    replies = [written, canned]
    row = score_row(CORPUS, replies, records, got, "RAFT", {"rung": "both"}, json_format=True)
    assert row.format_compliance is None, "a rate over all replies would count the canned one as compliant"
    assert row.abstention_rate == 0.5 and row.accuracy == 1.0  # gated unanswerable: abstained, which is right
    fmt = format_row(replies, got, "RAFT, the replies it wrote", {"rung": "both"}, headline=True)
    assert (fmt.n, fmt.format_compliance, fmt.metric_role) == (1, 0.0, "format")
