"""Canary analysis (pure): per-variant numbers from the replicas' Prometheus text, and the gates on them.

The metric names are a contract with the serving app:

- ``serving_requests_total{variant,version,mode,status}``: requests and their 5xx errors per variant;
- ``serving_request_latency_seconds_bucket{variant,le}``: the latency histogram per variant;
- ``serving_fallbacks_total{wanted,served}``: routed requests that wanted one variant and got the other.

The quality gate reads the app's ``GET /experiment`` instead (:class:`ExperimentView`): labels arrive as
feedback, and the comparison of A and B on them, with its always-valid interval, is the app's verdict.

A window is end - start per replica and per series, then summed across replicas. Counters only grow, so a
value that went down means the replica restarted during the window: then all of its series count from zero
and the end value is the window (Prometheus' ``increase`` treats a reset the same way).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from mlpipeline.release.policy import P99_FLOOR_SECONDS, ReleasePolicy
from mlpipeline.release.ports import ExperimentView

REQUESTS = "serving_requests_total"
LATENCY_BUCKETS = "serving_request_latency_seconds_bucket"
FALLBACKS = "serving_fallbacks_total"
WANTED = frozenset((REQUESTS, LATENCY_BUCKETS, FALLBACKS))

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]
Series = Mapping[SeriesKey, float]


def parse(text: str) -> dict[SeriesKey, float]:
    """The samples the analysis reads from one replica's ``/metrics`` text (ValueError if it is not that)."""
    series: dict[SeriesKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in WANTED:
                series[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return series


def restarted(start: Series, end: Series) -> bool:
    """A counter that went down (or vanished) means the process behind the URL started again."""
    return any(end.get(key, 0.0) < value for key, value in start.items())


def window(start: Series | None, end: Series) -> dict[SeriesKey, float]:
    """What one replica counted between two snapshots (``start`` None: a replica that appeared meanwhile)."""
    if start is None or restarted(start, end):
        return dict(end)
    return {key: value - start.get(key, 0.0) for key, value in end.items()}


@dataclass(frozen=True)
class VariantWindow:
    """One variant's numbers in a window, summed across replicas."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound, cumulative count), ascending, +Inf last
    fallbacks: float = 0.0  # requests that wanted this variant and were served by the other one

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p99(self) -> float | None:
        return quantile(0.99, self.buckets)


def summarize(windows: Iterable[Series]) -> dict[str, VariantWindow]:
    """Per-variant numbers of the replicas' windows, summed."""
    requests: defaultdict[str, float] = defaultdict(float)
    errors: defaultdict[str, float] = defaultdict(float)
    fallbacks: defaultdict[str, float] = defaultdict(float)
    buckets: defaultdict[str, defaultdict[float, float]] = defaultdict(lambda: defaultdict(float))
    for series in windows:
        for (name, label_items), value in series.items():
            labels = dict(label_items)
            if name == REQUESTS:
                variant = labels.get("variant", "")
                requests[variant] += value
                if labels.get("status", "").startswith("5"):
                    errors[variant] += value
            elif name == LATENCY_BUCKETS:
                buckets[labels.get("variant", "")][float(labels.get("le", "+Inf"))] += value
            elif labels.get("wanted") != labels.get("served"):
                fallbacks[labels.get("wanted", "")] += value
    variants = set(requests) | set(buckets) | set(fallbacks)
    return {
        variant: VariantWindow(
            requests[variant], errors[variant], tuple(sorted(buckets[variant].items())), fallbacks[variant]
        )
        for variant in variants
    }


def quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """``histogram_quantile``: linear interpolation inside the bucket holding rank q; None without data."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):  # beyond the last finite bucket: its bound is all we know
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{self.gate} {'passed' if self.passed else 'FAILED'}: {self.detail}"


def ms(seconds: float | None) -> str:
    """A latency as every release line shows it."""
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def _rate(window: VariantWindow) -> str:
    return f"{window.error_rate:.2%} ({window.errors:g}/{window.requests:g})"


def evaluate(b: VariantWindow, a: VariantWindow, policy: ReleasePolicy) -> tuple[GateResult, ...]:
    """Every gate on B's window against A's: min_requests, error_rate, p99, fallbacks (all are reported)."""
    evidence = GateResult(
        "min_requests",
        b.requests >= policy.min_requests,
        f"B served {b.requests:g} requests, at least {policy.min_requests} needed",
    )
    excess = b.error_rate - a.error_rate
    errors = GateResult(
        "error_rate",
        excess <= policy.max_error_rate,
        f"B 5xx {_rate(b)} vs A {_rate(a)}: +{max(excess, 0.0):.2%}, at most +{policy.max_error_rate:.2%}",
    )
    b_p99, a_p99 = b.p99, a.p99
    limit = None if a_p99 is None else policy.max_p99_ratio * a_p99
    if b_p99 is None:
        latency = GateResult("p99", True, f"no B latency observed (A {ms(a_p99)})")
    elif b_p99 <= P99_FLOOR_SECONDS and (a_p99 is None or a_p99 <= P99_FLOOR_SECONDS):
        latency = GateResult(
            "p99", True, f"B {ms(b_p99)}, A {ms(a_p99)}: both at most {ms(P99_FLOOR_SECONDS)}"
        )
    elif limit is None:
        latency = GateResult("p99", True, f"B {ms(b_p99)}; no A requests to compare with")
    else:
        latency = GateResult(
            "p99",
            b_p99 <= limit,
            f"B {ms(b_p99)} vs A {ms(a_p99)}: at most {policy.max_p99_ratio:g} x A = {ms(limit)}",
        )
    fallbacks = GateResult(
        "fallbacks",
        b.fallbacks == 0,
        f"{b.fallbacks:g} requests that wanted B were served by A (B not loaded on every replica)"
        if b.fallbacks
        else "every request that wanted B was served by B",
    )
    return (evidence, errors, latency, fallbacks)


def quality(experiment: ExperimentView, margin: float, baseline: str = "in the window") -> GateResult:
    """B not worse than A on labelled traffic by more than ``margin`` (non-inferiority on the app's verdict).

    It fails only when the whole always-valid interval of B - A (in the better direction) lies below
    -margin: B is worse with confidence, whenever anyone looks. Without labels on both sides there is nothing
    to judge and it passes (the other gates still hold B to its errors and latency). An answer that could
    not be read fails: a gate that cannot see must not let a candidate through.
    """
    if not experiment.ok:
        return GateResult("quality", False, f"cannot read GET /experiment: {experiment.detail}")
    counts = f"A {experiment.a_labelled}, B {experiment.b_labelled} labelled"
    difference = experiment.difference
    if not experiment.a_labelled or not experiment.b_labelled:
        return GateResult("quality", True, f"no labels {baseline} to compare ({counts})")
    if difference is None:
        return GateResult("quality", True, f"no interval from the app yet ({counts} {baseline})")
    numbers = (
        f"{experiment.metric} B vs A {difference.estimate:+.4g} (interval {difference.lower:+.4g} to "
        f"{difference.upper:+.4g}, below 0: B worse; {counts} {baseline})"
    )
    if difference.upper < -margin:
        return GateResult("quality", False, f"{numbers}: B is worse than A by more than {margin:g}")
    return GateResult("quality", True, f"{numbers}: not worse than A by more than {margin:g}")
