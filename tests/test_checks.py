import pytest

from labkit import checks


def test_check_passes_and_fails_with_hint(capsys):
    assert checks.check(lambda x: x + 1, lambda x: x + 1, [(1,), (2,)], name="inc")
    assert not checks.check(lambda x: x, lambda x: x + 1, [(1,)], name="inc", hint="add one")
    out = capsys.readouterr().out
    assert "pass: inc" in out and "FAIL: inc(1) returned 1, expected 2" in out and "hint: add one" in out


def test_check_reports_a_learner_exception_instead_of_crashing(capsys):
    assert not checks.check(lambda x: 1 / 0, lambda x: x, [(1,)], name="f")
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_a_stub_stops_the_lab():
    def stub(a, b):
        raise NotImplementedError("Exercise")

    with pytest.raises(NotImplementedError):
        checks.check_cosine(stub)


def test_cosine_checker_catches_a_classic_mistake():
    import numpy as np

    assert checks.check_cosine(lambda a, b: float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))))
    assert not checks.check_cosine(lambda a, b: float(np.dot(a, b)))  # forgot to normalize


def _candidates(ranked, oracle, pool, dedupe=True, skip_doc=True):
    out = []
    for c in ranked:
        if (skip_doc and c.doc_id == oracle.doc_id) or c == oracle or (dedupe and c in out):
            continue
        out.append(c)
    return out[:pool]


def _no_dedupe(ranked, oracle, n, rng, pool=6):
    return rng.sample(_candidates(ranked, oracle, pool, dedupe=False), n)


def _with_replacement(ranked, oracle, n, rng, pool=6):
    return rng.choices(_candidates(ranked, oracle, pool), k=n)


def _keeps_oracle_neighbours(ranked, oracle, n, rng, pool=6):
    return rng.sample(_candidates(ranked, oracle, pool, skip_doc=False), n)


def _global_random(ranked, oracle, n, rng, pool=6):
    import random

    return random.sample(_candidates(ranked, oracle, pool), n)


def _ignores_pool(ranked, oracle, n, rng, pool=6):
    return rng.sample(_candidates(ranked, oracle, len(ranked)), n)


def _always_the_top(ranked, oracle, n, rng, pool=6):
    return _candidates(ranked, oracle, pool)[:n]


def _never_raises(ranked, oracle, n, rng, pool=6):
    found = _candidates(ranked, oracle, pool)
    return rng.sample(found, min(n, len(found)))


def test_distractor_checker_passes_labkit_and_a_learners_own_version(capsys):
    from labkit.tuning.raft import sample_distractors

    def mine(ranked, oracle, n, rng, pool=6):
        found = _candidates(ranked, oracle, pool)
        if len(found) < n:
            raise ValueError("not enough candidates")
        return rng.sample(found, n)

    assert checks.check_distractor_sampler(sample_distractors)
    assert checks.check_distractor_sampler(mine)
    assert capsys.readouterr().out.count("pass: ") == 2


@pytest.mark.parametrize("broken, says", [
    (_no_dedupe, "same chunk twice"), (_with_replacement, "same chunk twice"),
    (_keeps_oracle_neighbours, "oracle's document"), (_global_random, "random.Random(7) gave"),
    (_ignores_pool, "best-ranked"), (_always_the_top, "for all of"), (_never_raises, "eligible chunks")])
def test_distractor_checker_catches_broken_samplers(broken, says, capsys):
    import random

    random.seed(123)
    state = random.getstate()
    assert not checks.check_distractor_sampler(broken)
    out = capsys.readouterr().out
    assert "FAIL: " in out and says in out and "hint: " in out
    assert random.getstate() == state  # the checker leaves the global random state as it found it


def test_distractor_checker_reports_a_crash_and_stops_on_a_stub(capsys):
    assert not checks.check_distractor_sampler(lambda ranked, oracle, n, rng, pool=6: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out

    def stub(ranked, oracle, n, rng, pool=6):
        raise NotImplementedError("Exercise")

    with pytest.raises(NotImplementedError):
        checks.check_distractor_sampler(stub)


def _ignores_missing_rungs(needs, summary):
    from labkit.ladder import decide

    return next((r for r in ("prompt", "rag", "ft", "both") if not decide.unmet(needs, summary.get(r, {}))), None)


def _most_expensive_first(needs, summary):
    from labkit.ladder import decide

    return next((r for r in ("both", "ft", "rag", "prompt") if r in summary and not decide.unmet(needs, summary[r])), None)


def _never_none(needs, summary):
    from labkit.ladder.decide import cheapest_rung

    return cheapest_rung(needs, summary) or "both"


def test_decision_checker_passes_the_procedure_and_catches_wrong_ones(capsys):
    from labkit.ladder.decide import cheapest_rung

    assert checks.check_decision_procedure(cheapest_rung)
    for broken in (_ignores_missing_rungs, _most_expensive_first, _never_none, lambda needs, summary: "rag"):
        assert not checks.check_decision_procedure(broken)
    out = capsys.readouterr().out
    assert out.count("pass: ") == 1 and out.count("FAIL: ") == 4 and "hint: " in out
