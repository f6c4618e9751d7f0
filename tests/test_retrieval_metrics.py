"""labkit.retrieval.metrics against values computed by hand (pytrec_eval / BEIR conventions)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.retrieval.metrics import dcg, evaluate_run, mrr, ndcg_at_k, recall_at_k


def test_recall_counts_relevant_found_in_the_top_k():
    qrels = {"a": 1, "b": 1, "c": 0, "d": 2}  # c is judged NOT relevant
    ranked = ["c", "a", "x", "d", "b"]
    assert recall_at_k(ranked, qrels, 1) == 0.0
    assert recall_at_k(ranked, qrels, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, qrels, 4) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, qrels, 100) == 1.0
    assert recall_at_k(ranked, {}, 10) == 0.0


def test_mrr_uses_the_first_relevant_rank():
    assert mrr(["x", "y", "a"], {"a"}) == pytest.approx(1 / 3)
    assert mrr(["a", "b"], {"b": 1, "a": 0}) == 0.5
    assert mrr(["x", "y", "a"], {"a"}, k=2) == 0.0
    assert mrr([], {"a"}) == 0.0


def test_binary_ndcg_by_hand():
    # relevant a, b; ranked x a y b -> DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["x", "a", "y", "b"], {"a", "b"}, 10) == pytest.approx(expected)
    assert ndcg_at_k(["x", "a", "y", "b"], {"a", "b"}, 10) == pytest.approx(0.6509, abs=1e-4)


def test_graded_ndcg_uses_linear_gain_and_the_ideal_from_the_qrels():
    qrels = {"a": 3, "b": 2, "c": 1, "z": 3}  # z is never retrieved, but still in the ideal ranking
    ranked = ["c", "b", "a"]
    dcg_run = 1 / 1 + 2 / math.log2(3) + 3 / math.log2(4)
    ideal_at_3 = 3 + 3 / math.log2(3) + 2 / math.log2(4)
    assert ndcg_at_k(ranked, qrels, 3) == pytest.approx(dcg_run / ideal_at_3)
    ideal_at_10 = ideal_at_3 + 1 / math.log2(5)
    assert ndcg_at_k(ranked, qrels, 10) == pytest.approx(dcg_run / ideal_at_10)
    assert ndcg_at_k(ranked, qrels, 1) == pytest.approx(1 / 3)  # grade 1 where 3 was possible


def test_ndcg_cuts_at_k_and_handles_no_relevant():
    assert ndcg_at_k(["x", "a"], {"a"}, 1) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert dcg([]) == 0.0


@given(st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
       st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 3), max_size=8))
def test_metrics_stay_between_zero_and_one_and_ideal_scores_one(ranked, qrels):
    for value in (recall_at_k(ranked, qrels, 5), mrr(ranked, qrels), ndcg_at_k(ranked, qrels, 5)):
        assert 0.0 <= value <= 1.0 + 1e-12
    ideal = sorted(qrels, key=lambda d: -qrels[d])
    if any(g > 0 for g in qrels.values()):
        assert ndcg_at_k(ideal, qrels, 5) == pytest.approx(1.0)


def test_evaluate_run_averages_over_judged_queries_and_counts_missing_as_zero():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}}
    run = {"q1": ["d1"], "q2": ["x", "d2"], "unjudged": ["d1"]}  # q3 not searched
    scores = evaluate_run(run, qrels, ndcg_k=[10], recall_k=[1, 2], mrr_k=[10])
    assert scores["recall@1"] == pytest.approx(1 / 3)
    assert scores["recall@2"] == pytest.approx(2 / 3)
    assert scores["mrr@10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert scores["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 3)
