"""Online quality as pure functions: per-variant intervals, the always-valid A/B verdict, the sample ratio.

Nothing here reads the log or the clock; callers pass counts and sums. The outcome of one labelled prediction
is 1 or 0 (correct or not) for classification and the absolute error for regression, so a variant is fully
described by three running sums (``Sample``). docs/statistics.md explains the choices and the simulations
that check them (tests/app/test_statistics.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

Task = Literal["classification", "regression"]
Verdict = Literal["B_better", "B_worse", "inconclusive"]

MIN_LABELS_PER_VARIANT = 30
"""No verdict (and no difference interval) until each variant has this many labels: the interval plugs in the
observed variances, and with fewer labels those are too noisy to trust (an accuracy of 29/29 says little about
the spread). The A/A simulations keep their false-positive rate under alpha with this floor."""

EFFECT_SCALE = 0.2
"""The mixing distribution of the mSPRT is N(0, tau^2) over the difference, with tau this many pooled
standard deviations of one outcome (a "small" standardized effect). Tying tau to the data's own spread makes
the test scale-free: the same errors in metres or millimetres give the same verdict."""

ROUNDING = 1e-9
"""Below this share of the sum of squares, a spread is floating-point residue (see ``Sample.variance``)."""

MAX_LABELS_NEEDED = 10**15
"""Beyond this the observed difference is practically zero: ``labels_needed`` says None rather than a number
no experiment will reach."""


@dataclass(frozen=True)
class Sample:
    """One variant's labelled outcomes: per labelled row, 1/0 (correct) for classification or the absolute
    error for regression."""

    n: int
    total: float
    total_sq: float

    def __post_init__(self) -> None:
        if self.n < 0 or self.total_sq < 0:
            raise ValueError(f"a sample needs n >= 0 and a sum of squares >= 0, got {self}")

    @classmethod
    def from_values(cls, values: Iterable[float]) -> Sample:
        n, total, total_sq = 0, 0.0, 0.0
        for value in values:
            n += 1
            total += value
            total_sq += value * value
        return cls(n, total, total_sq)

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        """The sample variance (n - 1 in the denominator); None below two outcomes."""
        if self.n < 2:
            return None
        spread = self.total_sq - self.total * self.total / self.n
        # From running sums, equal outcomes leave a rounding residue (either sign) instead of zero; a spread
        # this small next to the sum of squares (a coefficient of variation ~ 3e-5) is that, not data.
        if spread <= ROUNDING * self.total_sq:
            return 0.0
        return spread / (self.n - 1)


@dataclass(frozen=True)
class Interval:
    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Comparison:
    verdict: Verdict
    difference: Interval | None
    """B minus A in the better direction (accuracy_B - accuracy_A; mae_A - mae_B): positive favours B."""
    labels_needed: int | None
    """Inconclusive only: more labels in total, at the current split, until the interval would exclude 0 if
    the observed difference held."""


@dataclass(frozen=True)
class SampleRatio:
    assigned_a: int
    assigned_b: int
    expected_b_share: float
    p_value: float
    mismatch: bool


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def normal_quantile(p: float) -> float:
    return NormalDist().inv_cdf(p)


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile without scipy: exact for 1 and 2 degrees of freedom, otherwise the Cornish-Fisher
    expansion of Abramowitz & Stegun 26.7.5 (within 0.2% of the table for df >= 3 at p = 0.975)."""
    if df < 1:
        raise ValueError(f"t needs at least one degree of freedom, got {df}")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    x = normal_quantile(p)
    g1 = (x**3 + x) / 4
    g2 = (5 * x**5 + 16 * x**3 + 3 * x) / 96
    g3 = (3 * x**7 + 19 * x**5 + 17 * x**3 - 15 * x) / 384
    g4 = (79 * x**9 + 776 * x**7 + 1482 * x**5 - 1920 * x**3 - 945 * x) / 92160
    return x + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def wilson_interval(successes: float, n: int, alpha: float) -> Interval:
    """The Wilson score interval: unlike p +- z*se it stays in [0, 1] and is not zero-width at 0/n or n/n."""
    z = normal_quantile(1 - alpha / 2)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def metric_interval(sample: Sample, task: Task, alpha: float) -> Interval | None:
    """A variant's accuracy (Wilson) or MAE (mean +- t * s / sqrt(n), lower bound clipped at 0).

    A fixed-n interval, to describe one variant; the verdict between variants is ``compare``'s. None without
    labels, and for regression with a single label (no spread to estimate).
    """
    _check_alpha(alpha)
    if sample.n == 0:
        return None
    if task == "classification":
        return wilson_interval(sample.total, sample.n, alpha)
    variance = sample.variance
    mean = sample.total / sample.n
    if variance is None:
        return None
    half = t_quantile(1 - alpha / 2, sample.n - 1) * math.sqrt(variance / sample.n)
    return Interval(mean, max(0.0, mean - half), mean + half)


def always_valid_half_width(variance: float, tau2: float, alpha: float) -> float:
    """Half-width of the normal-mixture confidence sequence (Johari et al., "Always valid inference") for an
    estimate with variance ``variance`` and mixing variance ``tau2``: it covers the true value at every look
    at once with probability 1 - alpha, so watching it continuously does not inflate the error rate."""
    total = variance + tau2
    return math.sqrt(variance * total / tau2 * (math.log(total / variance) - 2 * math.log(alpha)))


def _plug_in_variance(sample: Sample, task: Task) -> float:
    if task == "classification":
        # One added success and one failure (as Agresti-Caffo do): 30/30 correct does not mean zero spread,
        # and an interval built on zero spread would be a point.
        p = (sample.total + 1) / (sample.n + 2)
        return p * (1 - p)
    variance = sample.variance
    return variance if variance is not None else 0.0


def compare(a: Sample, b: Sample, task: Task, alpha: float) -> Comparison:
    """The verdict on B against A: an always-valid interval on the difference, decided once it excludes 0."""
    _check_alpha(alpha)
    if min(a.n, b.n) < MIN_LABELS_PER_VARIANT:
        return Comparison("inconclusive", None, None)
    mean_a, mean_b = a.total / a.n, b.total / b.n
    # Positive always favours B: more accuracy, less error.
    estimate = mean_b - mean_a if task == "classification" else mean_a - mean_b
    # Each variant's variance is the larger of its own and the pooled one (both variants' labels together).
    # A small variant whose outcomes happen to be good also has a small observed spread (29/30 correct;
    # a few small errors), and its own variance alone made the A/A simulations of a 10% canary declare
    # "B_better" about 6% of the time; the pooled one is what the variance is if A and B are alike.
    pooled = _plug_in_variance(Sample(a.n + b.n, a.total + b.total, a.total_sq + b.total_sq), task)
    var_a = max(_plug_in_variance(a, task), pooled)
    var_b = max(_plug_in_variance(b, task), pooled)
    variance = var_a / a.n + var_b / b.n
    if variance == 0.0:
        # Only regression gets here: every error in both variants the same value. A plug-in interval would be
        # a single point, a certainty the data do not support, so nothing is claimed.
        return Comparison("inconclusive", None, None)
    tau2 = EFFECT_SCALE**2 * pooled
    half = always_valid_half_width(variance, tau2, alpha)
    lower, upper = estimate - half, estimate + half
    if task == "classification":
        # The difference of two accuracies lies in [-1, 1]; intersecting with it keeps the coverage.
        lower, upper = max(-1.0, lower), min(1.0, upper)
    difference = Interval(estimate, lower, upper)
    if lower > 0:
        return Comparison("B_better", difference, None)
    if upper < 0:
        return Comparison("B_worse", difference, None)
    # V(N) = spread / N for N labels in total at the current split, the variances held at their estimates.
    n = a.n + b.n
    spread = var_a * n / a.n + var_b * n / b.n
    return Comparison("inconclusive", difference, _labels_needed(abs(estimate), spread, tau2, n, alpha))


def _labels_needed(effect: float, spread: float, tau2: float, n: int, alpha: float) -> int | None:
    """The fewest more labels after which the half-width falls below ``effect`` (it shrinks as N grows)."""
    if effect == 0.0:
        return None

    def decided(total: int) -> bool:
        return always_valid_half_width(spread / total, tau2, alpha) < effect

    low, high = n, 2 * n
    while not decided(high):
        if high > MAX_LABELS_NEEDED:
            return None
        low, high = high, 2 * high
    while high - low > 1:  # decided(high) and not decided(low)
        middle = (low + high) // 2
        low, high = (low, middle) if decided(middle) else (middle, high)
    return high - n


def sample_ratio(strata: Sequence[tuple[int, int, float]], threshold: float = 0.001) -> SampleRatio | None:
    """Does the observed assignment match the configured split? ``strata``: (assigned to A, assigned to B,
    configured share of B in 0..1), one per period the split had that value (a canary at 10% then 50% is two).

    The B count is a sum of independent binomials, one per stratum:
    z = (O_B - sum n p) / sqrt(sum n p (1 - p)), and a two-sided normal p-value. A stratum whose share is 0 or
    1 has no variance; a single request on its impossible side is a mismatch outright (p = 0). None when
    nothing was assigned.
    """
    assigned_a = sum(a for a, _, _ in strata)
    assigned_b = sum(b for _, b, _ in strata)
    total = assigned_a + assigned_b
    if total == 0:
        return None
    expected_b = 0.0
    variance = 0.0
    impossible = False
    for a, b, share in strata:
        if a < 0 or b < 0 or not 0.0 <= share <= 1.0:
            raise ValueError(f"a stratum needs counts >= 0 and a share in [0, 1], got {(a, b, share)}")
        n = a + b
        expected_b += n * share
        variance += n * share * (1 - share)
        impossible |= (share == 0.0 and b > 0) or (share == 1.0 and a > 0)
    if impossible:
        p_value = 0.0
    elif variance == 0.0:
        p_value = 1.0  # every stratum degenerate and every request on its only possible side
    else:
        z = (assigned_b - expected_b) / math.sqrt(variance)
        p_value = math.erfc(abs(z) / math.sqrt(2))
    return SampleRatio(assigned_a, assigned_b, expected_b / total, p_value, p_value < threshold)
