"""labkit.stats: Wilson intervals and the paired bootstrap, against known values and by simulation."""

import math
import random

import pytest

from labkit.errors import LabkitError
from labkit.stats import Difference, IntervalConfig, paired_bootstrap, rate_interval, wilson


@pytest.mark.parametrize("k, n, low, high", [  # reference values: Wilson (1927), as statsmodels' proportion_confint
    (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (81, 263, 0.2553, 0.3662),
])
def test_wilson_matches_reference_values(k, n, low, high):
    got = wilson(k, n)
    assert got == pytest.approx((low, high), abs=5e-4)


def test_wilson_covers_the_true_rate_about_95_percent_of_the_time():
    rng = random.Random(0)
    for p, n in ((0.1, 20), (0.5, 40), (0.85, 60)):
        covered = 0
        for _ in range(2000):
            k = sum(rng.random() < p for _ in range(n))
            low, high = wilson(k, n)
            covered += low <= p <= high
        assert 0.92 <= covered / 2000 <= 0.985, (p, n, covered)


def test_intervals_narrow_as_n_grows_and_never_leave_zero_one():
    widths = [(lambda i: i[1] - i[0])(rate_interval(0.5, n)) for n in (8, 40, 200)]
    assert widths == sorted(widths, reverse=True) and widths[0] > 0.5 and widths[-1] < 0.15
    for k in range(0, 9):
        low, high = wilson(k, 8)
        assert 0 <= low <= k / 8 <= high <= 1


def test_bad_counts_are_refused_with_a_fix():
    with pytest.raises(LabkitError, match="at least one"):
        wilson(0, 0)
    with pytest.raises(LabkitError, match="successes"):
        wilson(5, 4)
    with pytest.raises(LabkitError, match="same questions"):
        paired_bootstrap([1, 0], [1], random.Random(0))


def test_the_paired_bootstrap_is_seeded_and_tells_a_real_gap_from_noise():
    rng = random.Random(1)
    a = [int(rng.random() < 0.75) for _ in range(60)]
    b = [int(rng.random() < 0.35) for _ in range(60)]
    gap = paired_bootstrap(a, b, random.Random(0))
    assert gap == paired_bootstrap(a, b, random.Random(0))
    assert gap.separates and gap.low <= gap.difference <= gap.high and gap.n == 60
    same = paired_bootstrap(a, a[:30] + a[30:][::-1], random.Random(0))
    assert not same.separates and same.low <= 0 <= same.high
    assert not paired_bootstrap([1, 0] * 4, [0, 1] * 4, random.Random(0)).separates  # 8 discordant pairs, split


def test_pairing_gives_a_narrower_interval_than_ignoring_it():
    rng = random.Random(2)
    shared = [int(rng.random() < 0.5) for _ in range(80)]  # what both rungs get right or wrong together
    a = [1 if s or rng.random() < 0.15 else 0 for s in shared]
    paired = paired_bootstrap(a, shared, random.Random(0))
    pa, pb = sum(a) / 80, sum(shared) / 80
    unpaired_half = 1.96 * math.sqrt(pa * (1 - pa) / 80 + pb * (1 - pb) / 80)
    assert (paired.high - paired.low) / 2 < unpaired_half


def test_a_difference_speaks_only_when_it_separates():
    assert "beats" in Difference(0.2, 0.05, 0.35, 60).describe("both", "rag")
    assert "rag beats both by +20 points (95% paired interval +5 to +35" in Difference(-0.2, -0.35, -0.05, 60).describe(
        "both", "rag"), "the winner is named first, and so is its side of the interval"
    assert "not distinguishable at n = 60" in Difference(0.1, -0.02, 0.22, 60).describe("both", "rag")
    assert IntervalConfig().z == pytest.approx(1.96, abs=1e-3)


def test_the_ends_are_exact_so_error_bars_never_go_negative():
    for n in range(1, 200):
        assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0
        for k in (0, n // 3, n):
            low, high = wilson(k, n)
            assert low <= k / n <= high
