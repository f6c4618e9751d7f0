"""labkit.ladder.decide: needs against measured figures, the cheapest rung, and the two tables with numbers."""

import pytest

from labkit.ladder.decide import Needs, cheapest_rung, differences, justify, reach_for, unmet

SUMMARY = {
    "prompt": {"accuracy": 0.05, "hallucination_rate": 0.95, "format_compliance": 0.3, "latency_ms": 300.0},
    "rag": {"accuracy": 0.4, "hallucination_rate": 0.6, "citation_recall": 0.7, "fresh_accuracy": 0.3,
            "stale_rate": 0.0, "latency_ms": 1300.0, "update_seconds": 2.1},
    "ft": {"accuracy": 0.05, "hallucination_rate": 0.95, "format_compliance": 0.96, "stale_rate": 0.24,
           "latency_ms": 360.0, "update_seconds": 166.0},
    "both": {"accuracy": 0.5, "hallucination_rate": 0.2, "citation_recall": 0.8, "format_compliance": 1.0,
             "stale_rate": 0.0, "latency_ms": 1700.0, "update_seconds": 12.0},
}


@pytest.mark.parametrize("needs, rung", [
    (Needs(), "prompt"),
    (Needs(private_facts=True), "rag"),
    (Needs(private_facts=True, fresh=True, cite=True), "rag"),
    (Needs(strict_format=True), "ft"),
    (Needs(strict_format=True, max_latency_ms=500.0), "ft"),
    (Needs(private_facts=True, strict_format=True), "both"),
    (Needs(private_facts=True, fresh=True, strict_format=True), "both"),
    (Needs(private_facts=True, min_accuracy=0.9), None),
    (Needs(private_facts=True, max_latency_ms=1000.0), None),
])
def test_the_cheapest_rung_that_meets_every_need(needs, rung):
    assert cheapest_rung(needs, SUMMARY) == rung


def test_each_need_fails_on_its_own_figure_and_an_unmeasured_figure_fails():
    assert unmet(Needs(fresh=True), SUMMARY["ft"]) == [
        "fresh: 166 s to absorb an update, 24% stale (needs <= 60 s and <= 5%)"]
    assert unmet(Needs(fresh=True), SUMMARY["prompt"]) == ["fresh: cannot absorb an update (no update measured)"]
    assert unmet(Needs(cite=True), SUMMARY["ft"]) == ["cite: citation recall not measured < 50%"]
    assert unmet(Needs(strict_format=True), SUMMARY["rag"]) == ["strict format: compliance not measured < 90%"]
    assert unmet(Needs(private_facts=True, fresh=True, cite=True, strict_format=True), SUMMARY["both"]) == []


def test_a_rung_missing_from_the_summary_is_skipped():
    without_rag = {k: v for k, v in SUMMARY.items() if k != "rag"}
    assert cheapest_rung(Needs(private_facts=True, fresh=True), without_rag) == "both"


def test_justify_names_what_each_cheaper_rung_failed_with_its_numbers():
    text = justify(Needs(private_facts=True, fresh=True, strict_format=True), SUMMARY).splitlines()
    assert [line.split(":")[0] for line in text] == ["prompt", "rag", "ft", "both"]
    assert "accuracy 5% < 30%" in text[0] and "compliance not measured" in text[1]
    assert "166 s" in text[2] and text[3] == "both: meets every need -> reach for it"
    assert "no rung meets every need" in justify(Needs(private_facts=True, min_accuracy=0.99), SUMMARY)


def test_the_tables_carry_the_measured_numbers_and_say_what_was_not_measured():
    diff = {aspect: (rag, ft) for aspect, rag, ft in differences(SUMMARY)}
    assert diff["a fact changes: time to absorb it"] == ("2 s (re-index the document)", "166 s (a retraining run)")
    assert diff["strict output format"][1] == "96%" and "30%" in diff["strict output format"][0]
    reach = {want: (rung, why) for want, rung, why in reach_for(SUMMARY)}
    assert reach["a fixed format or house voice"] == ("fine-tuning", "compliance 96% vs 30% few-shot")
    assert "50%" in reach["current facts in a strict format"][1]
    sparse = differences({"rag": {"accuracy": 0.4}})
    assert any("not measured" in row[2] for row in sparse)


def _answer_rows(right_a: int, right_b: int, n: int = 60, both_right: int | None = None):
    """Headline answer rows of both and rag on the same n questions: both right on right_a, rag on right_b."""
    from labkit.scoreboard import Row

    ids = [f"q{i}" for i in range(n)]
    a = [1] * right_a + [0] * (n - right_a)
    b = [1] * right_b + [0] * (n - right_b) if both_right is None else \
        [1] * both_right + [0] * (right_a - both_right) + [1] * (right_b - both_right) + [0] * (n - right_a - right_b + both_right)
    return [Row("both", "raft", metric_role="answers", headline=True, n=n, accuracy=right_a / n, question_ids=ids,
                correct=a),
            Row("rag", "bm25", metric_role="answers", headline=True, n=n, accuracy=right_b / n, question_ids=ids,
                correct=b)]


def test_rank_says_beats_only_when_the_paired_interval_excludes_zero():
    from labkit.ladder.decide import rank
    from labkit.scoreboard import headlines

    clear = rank(headlines(_answer_rows(42, 33)), "both", "rag")  # 9 more right, none lost: a real gain
    assert clear.startswith("both beats rag by +15 points") and "n = 60" in clear
    # the same 15-point gap, but made of 18 questions won and 9 lost: at n = 60 it is not told apart
    noisy = rank(headlines(_answer_rows(42, 33, both_right=24)), "both", "rag")
    assert noisy.startswith("both and rag are not distinguishable at n = 60"), noisy
    assert "+15 points" in noisy
    tiny = rank(headlines(_answer_rows(5, 3, n=8)), "both", "rag")  # lab 09's quick run: 8 questions
    assert "not distinguishable at n = 8" in tiny


def test_rank_refuses_rungs_scored_on_different_questions():
    from labkit.errors import LabkitError
    from labkit.ladder.decide import rank
    from labkit.scoreboard import headlines

    rows = _answer_rows(42, 33)
    rows[1].question_ids = [f"other{i}" for i in range(60)]
    with pytest.raises(LabkitError, match="different questions"):
        rank(headlines(rows), "both", "rag")
    with pytest.raises(LabkitError, match="no answers headline row for ft"):
        rank(headlines(rows), "both", "ft")


def test_differences_compare_rag_and_the_fine_tune_on_the_same_questions():
    from labkit.scoreboard import Row

    def row(rung, name, accuracy, seed=None, variant="x"):
        return Row(rung, variant, question_set=name, metric_role="answers", n=20, accuracy=accuracy, train_seed=seed)

    rows = [row("rag", "trained", 0.55), row("rag", "paraphrased", 0.5), row("rag", "unseen", 0.45),
            row("ft", "trained", 0.9, 0, "facts (a)"), row("ft", "paraphrased", 0.2, 0, "facts (b)"),
            row("ft", "unseen", 0.0, 0, "facts (c)"), row("ft", "unseen", 0.05, None, "closed-book (c)")]
    table = differences({}, rows)
    cells = {aspect: (rag, ft) for aspect, rag, ft in table}
    assert cells["accuracy, (a) trained questions (same questions)"] == ("55% [34-74] of 20", "90% [70-97] of 20, closed-book")
    assert cells["accuracy, (c) unseen facts (same questions)"][1].startswith("0% [0-16] of 20"), "the fine-tune, not the base"
    assert not any("each rung's own questions" in aspect for aspect in cells)
    why = {want: because for want, _, because in reach_for({}, rows)}["teach the model new facts"]
    assert why == "fine-tune 90% on the facts it was trained on, 20% on their paraphrases, 0% on unseen ones (RAG on the same: 55%, 50%, 45%)"
    alone = {aspect for aspect, _, _ in differences({})}
    assert "accuracy on the course's facts (each rung's own questions)" in alone  # no rows: said, not hidden


def test_justify_says_when_a_bar_lies_inside_the_interval():
    summary = {"ft": {"accuracy": 0.0, "format_compliance": 1.0, "ci": {"format_compliance": (0.51, 1.0)}},
               "both": {"accuracy": 0.83, "format_compliance": 0.89, "ci": {"format_compliance": (0.57, 0.98)}}}
    lines = justify(Needs(strict_format=True), summary).splitlines()
    assert lines[0].startswith("ft: meets every need") and "close call: format compliance 100% [51-100]" in lines[0]
    failed = justify(Needs(private_facts=True, strict_format=True), summary).splitlines()
    assert "compliance 89% < 90% (close call: format compliance 89% [57-98] spans the 90% bar)" in failed[1]
    wide_of_it = {"both": {"format_compliance": 0.2, "ci": {"format_compliance": (0.05, 0.4)}}}
    assert "close call" not in justify(Needs(strict_format=True), wide_of_it)
