"""How good is a ranking? Recall@k, MRR and nDCG@k, as BEIR and pytrec_eval define them.

Every function takes ``ranked``, the retrieved ids best first, and ``relevance``,
the judged ids of one query: a mapping id -> grade (0 = judged not relevant,
1, 2, ... = more relevant) or a plain set of relevant ids (each grade 1).
An id with grade <= 0 counts as not relevant.

- ``recall_at_k``: the share of relevant ids found in the top k.
- ``mrr``: 1 / the rank of the first relevant id (0 if none in the top k).
- ``ndcg_at_k``: DCG = sum of ``grade / log2(rank + 1)`` over the top k (trec_eval's
  linear gain, rank 1 = best), divided by the DCG of the ideal ranking, which
  sorts *all* judged grades of the query (not only the retrieved ones).

Averages over queries (:func:`evaluate_run`) run over the queries in the judgments;
a query with no results scores 0 (BEIR averages over the queries it retrieved for,
which is the same whenever every query is searched, as in our benchmark).

>>> relevance = {"d1": 2, "d3": 1}
>>> ranked = ["d2", "d1", "d3"]
>>> recall_at_k(ranked, relevance, 2), mrr(ranked, relevance)
(0.5, 0.5)
>>> round(ndcg_at_k(ranked, relevance, 10), 4)   # (2/log2(3) + 1/log2(4)) / (2/log2(2) + 1/log2(3))
0.6697
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

Relevance = Mapping[str, float] | set[str] | frozenset[str]


def _grades(relevance: Relevance) -> Mapping[str, float]:
    if isinstance(relevance, (set, frozenset)):
        return {doc_id: 1 for doc_id in relevance}
    return relevance


def recall_at_k(ranked: Sequence[str], relevance: Relevance, k: int) -> float:
    """Share of the relevant ids that appear in the first ``k`` (0 when nothing is relevant).

    >>> recall_at_k(["a", "b", "c"], {"a", "c", "z"}, 2)   # found a; c is at rank 3; z never
    0.3333333333333333
    """
    relevant = {d for d, g in _grades(relevance).items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr(ranked: Sequence[str], relevance: Relevance, k: int | None = None) -> float:
    """Reciprocal rank of the first relevant id within the first ``k`` (all when None).

    >>> mrr(["a", "b", "c"], {"c"}), mrr(["a", "b", "c"], {"c"}, k=2)
    (0.3333333333333333, 0.0)
    """
    grades = _grades(relevance)
    for rank, doc_id in enumerate(ranked[:k], start=1):
        if grades.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def dcg(grades: Sequence[float]) -> float:
    """Discounted cumulative gain of grades in rank order: ``sum(g / log2(rank + 1))``.

    >>> round(dcg([3, 2, 0, 1]), 4)     # 3/1 + 2/1.585 + 0/2 + 1/2.322
    4.6925
    """
    return sum(g / math.log2(rank + 1) for rank, g in enumerate(grades, start=1) if g > 0)


def ndcg_at_k(ranked: Sequence[str], relevance: Relevance, k: int = 10) -> float:
    """DCG of the first ``k`` over the DCG of the ideal top ``k`` (0 when nothing is relevant).

    >>> ndcg_at_k(["a", "b"], {"a": 1, "b": 1})     # already ideal
    1.0
    >>> round(ndcg_at_k(["x", "a"], {"a": 1}), 4)   # the only relevant one at rank 2: 1/log2(3)
    0.6309
    """
    grades = _grades(relevance)
    ideal = dcg(sorted((g for g in grades.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([grades.get(doc_id, 0) for doc_id in ranked[:k]]) / ideal


def evaluate_run(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Relevance],
                 ndcg_k: Sequence[int] = (10,), recall_k: Sequence[int] = (100,),
                 mrr_k: Sequence[int] = (10,)) -> dict[str, float]:
    """Average each metric over the queries in ``qrels``; ``run`` maps query id -> ranked ids.

    >>> qrels = {"q1": {"d1": 1}, "q2": {"d9": 1}}
    >>> scores = evaluate_run({"q1": ["d1"], "q2": ["d3", "d9"]}, qrels, ndcg_k=[10], recall_k=[1], mrr_k=[10])
    >>> {name: round(value, 4) for name, value in scores.items()}
    {'ndcg@10': 0.8155, 'recall@1': 0.5, 'mrr@10': 0.75}
    """
    if not qrels:
        return {}
    totals: dict[str, float] = {}
    metrics = ([(f"ndcg@{k}", ndcg_at_k, k) for k in ndcg_k] + [(f"recall@{k}", recall_at_k, k) for k in recall_k]
               + [(f"mrr@{k}", mrr, k) for k in mrr_k])
    for query_id, relevance in qrels.items():
        ranked = run.get(query_id, [])
        for name, metric, k in metrics:
            totals[name] = totals.get(name, 0.0) + metric(ranked, relevance, k)
    return {name: total / len(qrels) for name, total in totals.items()}
