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
