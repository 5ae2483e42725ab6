"""The statistics of online quality, as pure functions: known values, edge cases, and simulations.

The simulations draw with fixed numpy seeds, so every number they report is the same on every run; the
assertions hold them to the issue's bounds (false positives <= alpha over >= 1,000 A/A experiments looked at
every 100 labels) and docs/statistics.md quotes what they measure.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest

from serving.outcomes.statistics import (
    MIN_LABELS_PER_VARIANT,
    Comparison,
    Sample,
    Task,
    always_valid_half_width,
    compare,
    metric_interval,
    normal_quantile,
    sample_ratio,
    t_quantile,
)

ALPHA = 0.05
EXPERIMENTS = 1_000
LOOK_EVERY = 100


def accuracy(correct: float, n: int) -> Sample:
    return Sample(n, correct, correct)


# --- per-variant intervals -----------------------------------------------------------------------------


def test_wilson_interval_matches_the_published_values() -> None:
    """8/10 at 95%: 0.4902-0.9433. 0/10: 0 to z^2 / (n + z^2), the closed form when nothing is right."""
    interval = metric_interval(accuracy(8, 10), "classification", ALPHA)
    assert interval is not None
    assert (interval.estimate, interval.lower, interval.upper) == pytest.approx(
        (0.8, 0.4902, 0.9433), abs=1e-4
    )
    none_right = metric_interval(accuracy(0, 10), "classification", ALPHA)
    z2 = normal_quantile(0.975) ** 2
    assert none_right is not None
    assert (none_right.lower, none_right.upper) == pytest.approx((0.0, z2 / (10 + z2)))


@pytest.mark.parametrize(("correct", "n"), [(1, 3), (45, 50), (999, 1000), (500, 1000)])
def test_wilson_bounds_are_the_roots_of_the_score_equation(correct: int, n: int) -> None:
    """Each bound p solves (p_hat - p)^2 = z^2 p (1 - p) / n: the definition, checked independently."""
    interval = metric_interval(accuracy(correct, n), "classification", 0.01)
    assert interval is not None
    z = normal_quantile(0.995)
    for p in (interval.lower, interval.upper):
        assert (correct / n - p) ** 2 == pytest.approx(z * z * p * (1 - p) / n, rel=1e-9)


@pytest.mark.parametrize(
    ("p", "df", "table"),
    [(0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 3, 3.1824), (0.975, 10, 2.2281), (0.995, 5, 4.0321)],
)
def test_t_quantile_matches_the_table(p: float, df: int, table: float) -> None:
    assert t_quantile(p, df) == pytest.approx(table, rel=2e-3)


def test_mae_interval_is_mean_plus_minus_t_standard_error_clipped_at_zero() -> None:
    """Errors 1..5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764, so 3 +- 1.9633."""
    interval = metric_interval(Sample.from_values([1, 2, 3, 4, 5]), "regression", ALPHA)
    assert interval is not None
    assert (interval.estimate, interval.lower, interval.upper) == pytest.approx((3, 1.0367, 4.9633), abs=1e-3)
    skewed = metric_interval(Sample.from_values([0, 0, 10]), "regression", ALPHA)
    assert skewed is not None
    assert skewed.lower == 0.0
    assert skewed.upper > 10


def test_no_labels_no_interval_and_one_error_has_no_spread() -> None:
    assert metric_interval(Sample(0, 0.0, 0.0), "classification", ALPHA) is None
    assert metric_interval(Sample(0, 0.0, 0.0), "regression", ALPHA) is None
    assert metric_interval(Sample.from_values([2.0]), "regression", ALPHA) is None
    single = metric_interval(accuracy(1, 1), "classification", ALPHA)
    assert single is not None
    assert single.lower < 1.0


def test_sample_sums_give_the_mean_and_the_sample_variance() -> None:
    values = [0.5, 2.0, 2.0, 7.25]
    sample = Sample.from_values(values)
    assert (sample.n, sample.mean, sample.variance) == pytest.approx(
        (4, float(np.mean(values)), float(np.var(values, ddof=1)))
    )
    assert Sample(1, 3.0, 9.0).variance is None
    assert Sample(0, 0.0, 0.0).mean is None
    # Equal outcomes leave a rounding residue in the running sums (0.1 * 7: +2e-18); the variance is 0.
    assert Sample.from_values([0.1] * 7).variance == 0.0
    assert Sample.from_values([0.3] * 3 + [0.1] * 3).variance == pytest.approx(0.012)
    with pytest.raises(ValueError, match="n >= 0"):
        Sample(-1, 0.0, 0.0)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1])
def test_alpha_outside_zero_one_is_refused(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        compare(accuracy(40, 50), accuracy(40, 50), "classification", alpha)
    with pytest.raises(ValueError, match="alpha"):
        metric_interval(accuracy(40, 50), "classification", alpha)


# --- the verdict -----------------------------------------------------------------------------------------


def test_a_clearly_worse_b_is_b_worse_and_a_decided_verdict_needs_no_more_labels() -> None:
    result = compare(accuracy(900, 1000), accuracy(700, 1000), "classification", ALPHA)
    assert result.verdict == "B_worse"
    assert result.difference is not None
    assert result.difference.estimate == pytest.approx(-0.2)
    assert result.difference.lower < -0.2 < result.difference.upper < 0
    assert result.labels_needed is None


def test_regression_difference_is_a_minus_b_so_less_error_in_b_is_better() -> None:
    rng = np.random.default_rng(11)
    a = Sample.from_values(rng.exponential(1.0, 2000).tolist())
    b = Sample.from_values(rng.exponential(0.7, 2000).tolist())
    result = compare(a, b, "regression", ALPHA)
    assert result.verdict == "B_better"
    assert result.difference is not None
    assert result.difference.estimate == pytest.approx(a.total / a.n - b.total / b.n)
    assert compare(b, a, "regression", ALPHA).verdict == "B_worse"


def test_below_the_minimum_labels_there_is_no_verdict_and_no_interval() -> None:
    few = MIN_LABELS_PER_VARIANT - 1
    result = compare(accuracy(few, few), accuracy(0, few), "classification", ALPHA)
    assert result == Comparison("inconclusive", None, None)
    assert compare(accuracy(0, 0), accuracy(0, 0), "classification", ALPHA) == result
    enough = compare(
        accuracy(MIN_LABELS_PER_VARIANT, MIN_LABELS_PER_VARIANT),
        accuracy(0, MIN_LABELS_PER_VARIANT),
        "classification",
        ALPHA,
    )
    assert enough.verdict == "B_worse"


def test_all_correct_in_both_is_inconclusive_with_an_interval_around_zero() -> None:
    """No spread in the data, yet 100/100 does not prove two accuracies equal: the interval keeps a width."""
    result = compare(accuracy(100, 100), accuracy(100, 100), "classification", ALPHA)
    assert result.verdict == "inconclusive"
    assert result.difference is not None
    assert result.difference.lower < 0.0 == result.difference.estimate < result.difference.upper
    assert result.labels_needed is None  # no difference observed, so no number of labels would show one


def test_identical_regression_errors_everywhere_claim_nothing() -> None:
    same = Sample.from_values([0.1] * 50)  # 0.1 is inexact in binary: the sums leave a residue
    assert compare(same, same, "regression", ALPHA) == Comparison("inconclusive", None, None)
    # Constant but different errors in each variant do have a spread once pooled: that is a real difference.
    always_one, always_zero = Sample.from_values([1.0] * 50), Sample.from_values([0.0] * 50)
    assert compare(always_one, always_zero, "regression", ALPHA).verdict == "B_better"


def test_labels_needed_falls_as_labels_arrive_and_is_enough_when_the_effect_holds() -> None:
    """The same observed accuracies (0.90 vs 0.88) on ever more labels: fewer still needed each time, and
    after adding the estimate at the same rates and split the verdict is decided."""
    needed = []
    for n in (200, 400, 800, 1600):
        result = compare(accuracy(0.90 * n, n), accuracy(0.88 * n, n), "classification", ALPHA)
        assert result.verdict == "inconclusive"
        assert result.labels_needed is not None
        assert result.labels_needed > 0
        needed.append(result.labels_needed)
        per_variant = (2 * n + result.labels_needed) / 2
        later = compare(
            Sample(math.ceil(per_variant), 0.90 * per_variant, 0.90 * per_variant),
            Sample(math.ceil(per_variant), 0.88 * per_variant, 0.88 * per_variant),
            "classification",
            ALPHA,
        )
        assert later.verdict == "B_worse"
    assert needed == sorted(needed, reverse=True)
    assert len(set(needed)) == len(needed)


@pytest.mark.parametrize("alpha", [0.2, 0.05, 0.01, 0.001])
@pytest.mark.parametrize("ratio", [1e-4, 0.01, 1.0, 100.0])
def test_the_always_valid_interval_is_wider_than_the_fixed_n_one(alpha: float, ratio: float) -> None:
    """Looking at any time costs width: sqrt(V (V + tau2) / tau2 * (log((V + tau2) / V) - 2 log alpha))
    against z(1 - alpha/2) sqrt(V), for variances far below, at and far above the mixing variance."""
    variance = 0.25 / 1000
    tau2 = variance * ratio
    assert always_valid_half_width(variance, tau2, alpha) > normal_quantile(1 - alpha / 2) * math.sqrt(
        variance
    )


def test_worked_example_of_the_width_cost() -> None:
    """A: 450/500, B: 425/500. The fixed-n 95% interval on B - A would be -0.05 +- 0.0409 (excludes 0); the
    always-valid one is -0.05 +- 0.0663 and stays inconclusive."""
    result = compare(accuracy(450, 500), accuracy(425, 500), "classification", ALPHA)
    assert result.difference is not None
    fixed_half = normal_quantile(0.975) * math.sqrt(0.9 * 0.1 / 500 + 0.85 * 0.15 / 500)
    assert fixed_half == pytest.approx(0.0409, abs=1e-4)
    assert -0.05 + fixed_half < 0  # a one-look test would call B worse here
    always_half = result.difference.upper - result.difference.estimate
    assert always_half == pytest.approx(0.0663, abs=1e-4)
    assert result.verdict == "inconclusive"


# --- simulations -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Experiments:
    """Cumulative sums of many simulated experiments at each look (rows: experiments, columns: looks)."""

    n_a: np.ndarray
    total_a: np.ndarray
    sq_a: np.ndarray
    n_b: np.ndarray
    total_b: np.ndarray
    sq_b: np.ndarray


def simulate(outcomes_a: np.ndarray, outcomes_b: np.ndarray, to_b: np.ndarray) -> Experiments:
    """Label i of an experiment goes to B where ``to_b`` (a random split); its outcome is drawn per side."""
    outcome = np.where(to_b, outcomes_b, outcomes_a)
    looks = np.arange(LOOK_EVERY, to_b.shape[1] + 1, LOOK_EVERY) - 1

    def at_looks(values: np.ndarray) -> np.ndarray:
        return np.cumsum(values, axis=1)[:, looks]

    n_b = at_looks(to_b.astype(np.int64))
    return Experiments(
        n_a=looks + 1 - n_b,
        total_a=at_looks(np.where(to_b, 0.0, outcome)),
        sq_a=at_looks(np.where(to_b, 0.0, outcome**2)),
        n_b=n_b,
        total_b=at_looks(np.where(to_b, outcome, 0.0)),
        sq_b=at_looks(np.where(to_b, outcome**2, 0.0)),
    )


def first_verdicts(runs: Experiments, task: Task) -> tuple[Counter[str], list[int]]:
    """Each experiment's first decided verdict over its looks (an experimenter stops there), and when."""
    verdicts: Counter[str] = Counter()
    decided_at = []
    for row in range(runs.n_a.shape[0]):
        verdict = "inconclusive"
        for look in range(runs.n_a.shape[1]):
            a = Sample(int(runs.n_a[row, look]), float(runs.total_a[row, look]), float(runs.sq_a[row, look]))
            b = Sample(int(runs.n_b[row, look]), float(runs.total_b[row, look]), float(runs.sq_b[row, look]))
            verdict = compare(a, b, task, ALPHA).verdict
            if verdict != "inconclusive":
                decided_at.append(a.n + b.n)
                break
        verdicts[verdict] += 1
    return verdicts, decided_at


def split(rng: np.random.Generator, labels: int, b_share: float) -> np.ndarray:
    return rng.random((EXPERIMENTS, labels)) < b_share


def correct(rng: np.random.Generator, labels: int, rate: float) -> np.ndarray:
    return (rng.random((EXPERIMENTS, labels)) < rate).astype(np.float64)


@pytest.mark.parametrize("b_share", [0.5, 0.1])
def test_aa_accuracy_experiments_looked_at_every_100_labels_rarely_declare_a_winner(b_share: float) -> None:
    """1,000 A/A experiments, accuracy 0.90 in both, 5,000 labels each, a look every 100 labels (50 looks).
    Measured: 9/1000 (0.9%) ever declared a verdict at a 50/50 split, 5/1000 (0.5%) at a 10% canary;
    alpha 0.05."""
    rng = np.random.default_rng(20261124 + int(b_share * 100))
    labels = 5000
    runs = simulate(correct(rng, labels, 0.9), correct(rng, labels, 0.9), split(rng, labels, b_share))
    verdicts, _ = first_verdicts(runs, "classification")
    false_positive_rate = (EXPERIMENTS - verdicts["inconclusive"]) / EXPERIMENTS
    print(f"A/A accuracy, B share {b_share}: {dict(verdicts)}, false-positive rate {false_positive_rate:.3f}")
    assert false_positive_rate <= ALPHA


def test_aa_mae_experiments_looked_at_every_100_labels_rarely_declare_a_winner() -> None:
    """1,000 A/A experiments with skewed absolute errors (exponential, mean 1) in both, 5,000 labels, a look
    every 100. Measured: 11/1000 (1.1%) ever declared a verdict; alpha 0.05."""
    rng = np.random.default_rng(20261125)
    labels = 5000
    errors_a = rng.exponential(1.0, (EXPERIMENTS, labels))
    errors_b = rng.exponential(1.0, (EXPERIMENTS, labels))
    runs = simulate(errors_a, errors_b, split(rng, labels, 0.5))
    verdicts, _ = first_verdicts(runs, "regression")
    false_positive_rate = (EXPERIMENTS - verdicts["inconclusive"]) / EXPERIMENTS
    print(f"A/A MAE: {dict(verdicts)}, false-positive rate {false_positive_rate:.3f}")
    assert false_positive_rate <= ALPHA


def test_power_on_a_ten_point_accuracy_gap() -> None:
    """1,000 experiments, A 0.80 vs B 0.90, 50/50, a look every 100 labels up to 2,000 labels. Measured: power
    0.999 (999 said B_better, 1 stayed inconclusive), median labels to the verdict 600; never B_worse."""
    rng = np.random.default_rng(20261126)
    labels = 2000
    runs = simulate(correct(rng, labels, 0.8), correct(rng, labels, 0.9), split(rng, labels, 0.5))
    verdicts, decided_at = first_verdicts(runs, "classification")
    power = verdicts["B_better"] / EXPERIMENTS
    print(f"power 0.80 vs 0.90: {power:.3f}, median labels to the verdict {np.median(decided_at):.0f}")
    assert power >= 0.8
    assert verdicts["B_worse"] == 0


def test_power_on_a_worse_canary_by_mae() -> None:
    """1,000 experiments, MAE 1.0 (A) vs 1.3 (B, a 10% canary), exponential errors, a look every 100 labels up
    to 5,000. Measured: power 0.987 (B_worse), median labels to the verdict 1,800."""
    rng = np.random.default_rng(20261127)
    labels = 5000
    errors_a = rng.exponential(1.0, (EXPERIMENTS, labels))
    errors_b = rng.exponential(1.3, (EXPERIMENTS, labels))
    runs = simulate(errors_a, errors_b, split(rng, labels, 0.1))
    verdicts, decided_at = first_verdicts(runs, "regression")
    power = verdicts["B_worse"] / EXPERIMENTS
    print(
        f"power MAE 1.0 vs 1.3 at 10%: {power:.3f}, median labels to the verdict {np.median(decided_at):.0f}"
    )
    assert power >= 0.8
    assert verdicts["B_better"] == 0


# --- sample ratio ----------------------------------------------------------------------------------------


def test_a_48_52_skew_over_100000_requests_is_flagged() -> None:
    result = sample_ratio([(48_000, 52_000, 0.5)])
    assert result is not None
    assert result.mismatch
    assert result.expected_b_share == 0.5
    assert result.p_value < 1e-30  # z = 2000 / sqrt(25000) = 12.6


def test_honest_50_50_assignments_are_flagged_about_once_in_a_thousand() -> None:
    """10,000 honest splits of 100,000 requests (binomial): p < 0.001 should happen ~10 times."""
    rng = np.random.default_rng(20261128)
    to_b = rng.binomial(100_000, 0.5, size=10_000)
    flagged = 0
    for b in to_b.tolist():
        result = sample_ratio([(100_000 - b, b, 0.5)])
        assert result is not None
        flagged += result.mismatch
    print(f"honest 50/50 flagged {flagged}/10000")
    assert flagged <= 25
    first = sample_ratio([(100_000 - int(to_b[0]), int(to_b[0]), 0.5)])
    assert first is not None
    assert not first.mismatch


def test_a_canary_at_10_then_50_percent_is_judged_per_stratum() -> None:
    """10,000 requests at 10% then 10,000 at 50%: B expects 1,000 + 5,000, variance 900 + 2,500."""
    exact = sample_ratio([(9_000, 1_000, 0.1), (5_000, 5_000, 0.5)])
    assert exact is not None
    assert exact.expected_b_share == pytest.approx(0.3)
    assert (exact.p_value, exact.mismatch) == (1.0, False)
    naive = sample_ratio([(14_000, 6_000, 0.5)])  # the same counts judged against one 50/50 split
    assert naive is not None
    assert naive.mismatch
    skewed = sample_ratio([(8_900, 1_100, 0.1), (5_000, 5_000, 0.5)])
    assert skewed is not None
    z = 100 / math.sqrt(900 + 2500)
    assert skewed.p_value == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(z / math.sqrt(2)))))
    assert skewed.p_value == pytest.approx(0.0863, abs=1e-3)
    assert not skewed.mismatch
    assert (skewed.assigned_a, skewed.assigned_b) == (13_900, 6_100)


def test_a_split_of_0_or_100_percent_allows_no_request_on_the_other_side() -> None:
    blue_green = sample_ratio([(500, 0, 0.0), (0, 300, 1.0)])
    assert blue_green is not None
    assert (blue_green.p_value, blue_green.mismatch, blue_green.expected_b_share) == (1.0, False, 0.375)
    leaked = sample_ratio([(500, 1, 0.0), (4_000, 4_000, 0.5)])
    assert leaked is not None
    assert (leaked.p_value, leaked.mismatch) == (0.0, True)


def test_no_requests_no_sample_ratio_and_bad_strata_are_refused() -> None:
    assert sample_ratio([]) is None
    assert sample_ratio([(0, 0, 0.5)]) is None
    with pytest.raises(ValueError, match="share"):
        sample_ratio([(10, 10, 1.5)])
    with pytest.raises(ValueError, match="counts"):
        sample_ratio([(-1, 10, 0.5)])
