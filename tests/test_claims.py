"""labkit.ladder.claims: the course's claims hold on rows that make them true and fail loudly otherwise."""

import pytest

from labkit.errors import LabkitError
from labkit.ladder.claims import CLAIMS, verify_claims
from labkit.scoreboard import Row


def ladder_rows(changes: dict | None = None):
    """A small scoreboard where every claim holds; ``changes`` maps (rung, row, field) to another figure."""
    rows = {
        ("prompt", "answers"): Row("prompt", "closed-book", metric_role="answers", headline=True, accuracy=0.0),
        ("prompt", "format"): Row("prompt", "few-shot", metric_role="format", headline=True, format_compliance=0.0),
        ("rag", "answers"): Row("rag", "bm25 top-3", metric_role="answers", headline=True, accuracy=0.58),
        ("rag", "format"): Row("rag", "style guide", metric_role="format", headline=True, format_compliance=0.0),
        ("rag", "stale"): Row("rag", "stale-index", corpus_version="v2", metric_role="update", accuracy=0.0,
                              accuracy_lenient=0.0),
        ("rag", "update"): Row("rag", "updated-index", corpus_version="v2", metric_role="update", headline=True,
                               accuracy=0.25, accuracy_lenient=0.38, stale_rate=0.0, update_seconds=5.2),
        ("ft", "format"): Row("ft", "format", metric_role="format", headline=True, format_compliance=1.0),
        ("ft", "update"): Row("ft", "facts (e)", corpus_version="v2", metric_role="update", headline=True,
                              accuracy=0.0, stale_rate=0.38, update_seconds=143.0),
        ("both", "answers"): Row("both", "RAFT + bm25 top-3", metric_role="answers", headline=True, accuracy=0.7),
    }
    for (rung, role, field), value in (changes or {}).items():
        setattr(rows[(rung, role)], field, value)
    return list(rows.values())


def test_every_claim_is_checked_when_its_figures_were_measured():
    lines = verify_claims(ladder_rows()).splitlines()
    assert len(lines) == len(CLAIMS) and all(line.startswith("holds: ") for line in lines)
    assert not any(ch.isdigit() for line in lines for ch in line.replace("10 times", "")), "no numbers: same text on every CPU"


@pytest.mark.parametrize("change, claim", [
    ({("rag", "answers", "accuracy"): 0.0}, "RAG answers more"),
    ({("rag", "update", "update_seconds"): 60.0}, "10 times faster"),
    ({("rag", "stale", "accuracy_lenient"): 0.38}, "stale one"),
    ({("ft", "update", "stale_rate"): 0.0}, "stale answers more often"),
    ({("ft", "format", "format_compliance"): 0.0}, "few-shot prompt"),
    ({("rag", "format", "format_compliance"): 1.0}, "RAG to fix a format"),
    ({("both", "answers", "accuracy"): 0.58}, "RAFT-trained reader"),
])
def test_a_claim_that_does_not_hold_raises_with_its_numbers(change, claim):
    with pytest.raises(LabkitError, match=claim) as raised:
        verify_claims(ladder_rows(change))
    assert "=" in raised.value.problem, "the failing claim shows the figures it read"


def test_claims_whose_figures_were_not_measured_are_skipped():
    only_prompt = [r for r in ladder_rows() if r.rung == "prompt"]
    assert verify_claims(only_prompt) == ""


def seeded_rows(both_accuracy: dict[int, float]):
    """The rows above, with the trained rows (ft and both) repeated once per training seed."""
    rows = [r for r in ladder_rows() if r.rung not in ("ft", "both")]
    for seed, accuracy in both_accuracy.items():
        for r in ladder_rows({("both", "answers", "accuracy"): accuracy}):
            if r.rung in ("ft", "both"):
                r.train_seed = seed
                rows.append(r)
    return rows


def test_a_claim_must_hold_on_every_training_seed():
    lines = verify_claims(seeded_rows({0: 0.7, 1: 0.65, 2: 0.75})).splitlines()
    assert len(lines) == len(CLAIMS) and all(line.endswith("(on every training seed)") for line in lines)
    with pytest.raises(LabkitError, match="training seed 1: both accuracy = 0.5"):
        verify_claims(seeded_rows({0: 0.7, 1: 0.5, 2: 0.75}))
