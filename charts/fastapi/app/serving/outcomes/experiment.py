"""``GET /experiment``: per-variant online quality, the verdict and the sample-ratio check, from the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from serving.outcomes.grading import REGRESSION
from serving.outcomes.log import PredictionLog
from serving.outcomes.statistics import (
    Comparison,
    Interval,
    Sample,
    Task,
    compare,
    metric_interval,
    sample_ratio,
)

VARIANTS = ("A", "B")
NO_LABELS = Sample(0, 0.0, 0.0)


@dataclass(frozen=True)
class Scope:
    """Which experiment the report covers and how its variants are judged."""

    experiment_id: str
    since: datetime | None
    task: Task
    alpha: float
    shadow_of: tuple[str, str] | None = None  # shadow mode: (live variant, shadow variant)


def _interval(interval: Interval | None) -> dict[str, float] | None:
    return None if interval is None else {"lower": interval.lower, "upper": interval.upper}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _samples(rows: list[Any]) -> dict[str, tuple[Any, Sample]]:
    return {row.variant: (row, Sample(int(row.n), float(row.total), float(row.total_sq))) for row in rows}


def _quality(sample: Sample, scope: Scope) -> dict[str, Any]:
    interval = metric_interval(sample, scope.task, scope.alpha)  # None without labels
    return {
        "labelled": sample.n,
        "value": None if interval is None else interval.estimate,
        "interval": _interval(interval),
    }


def _requests(totals: Any | None) -> int:
    """The requests a ``variant_totals`` row counted (None: nothing logged)."""
    return int(totals.predictions) if totals else 0


def _variant(
    scope: Scope, totals: Any | None, sample: Sample, p99: float | None, versions: list[str]
) -> dict[str, Any]:
    """One variant's entry: ``totals`` is its ``variant_totals`` row (None: nothing logged)."""
    return {
        "predictions": _requests(totals),
        "fallback_served": int(totals.fallbacks) if totals else 0,
        **_quality(sample, scope),
        "p99_ms": _ms(p99),
        "versions": versions,
    }


def _verdict(comparison: Comparison) -> dict[str, Any]:
    difference = comparison.difference
    return {
        "result": comparison.verdict,
        "difference": None
        if difference is None
        else {"estimate": difference.estimate, "lower": difference.lower, "upper": difference.upper},
        "labels_needed": comparison.labels_needed,
    }


def report(log: PredictionLog, scope: Scope) -> dict[str, Any]:
    """The whole report (blocking: several queries; the caller runs it off the event loop)."""
    experiment, since = scope.experiment_id, scope.since
    live = _samples(log.variant_totals(experiment, since, shadow=False))
    versions = log.versions(experiment, since)
    variants: dict[str, Any] = {}
    for variant in VARIANTS:
        row, sample = live.get(variant, (None, NO_LABELS))
        p99 = log.latency_quantile(
            0.99, _requests(row), experiment, since, variant=variant, shadow=False, column="latency_ms"
        )
        variants[variant] = _variant(scope, row, sample, p99, versions.get(variant, []))
    samples = {variant: live.get(variant, (None, NO_LABELS))[1] for variant in VARIANTS}
    a, b = samples["A"], samples["B"]
    shadow = None
    if scope.shadow_of is not None:
        shadow, shadow_sample = _shadow(log, scope, live)
        live_variant, _ = scope.shadow_of
        # Shadow mode: the live colour against what the shadow would have answered on the same traffic.
        live_sample = samples[live_variant]
        a, b = (live_sample, shadow_sample) if live_variant == "A" else (shadow_sample, live_sample)
    started = log.started_at(experiment)
    return {
        **_heading(scope, "enabled"),
        "started_at": None if started is None else started.isoformat(),
        "variants": variants,
        "verdict": _verdict(compare(a, b, scope.task, scope.alpha)),
        "sample_ratio": _sample_ratio(log, scope),
        "shadow": shadow,
    }


def without_log(scope: Scope) -> dict[str, Any]:
    """The report of an app that logs nothing: the same shape, nothing observed (so no verdict either)."""
    nothing = _variant(scope, None, NO_LABELS, None, [])
    return {
        **_heading(scope, "disabled"),
        "started_at": None,
        "variants": dict.fromkeys(VARIANTS, nothing),
        "verdict": _verdict(compare(NO_LABELS, NO_LABELS, scope.task, scope.alpha)),
        "sample_ratio": None,
        "shadow": None,
    }


def _heading(scope: Scope, prediction_log: str) -> dict[str, Any]:
    return {
        "prediction_log": prediction_log,
        "experiment_id": scope.experiment_id,
        "since": None if scope.since is None else scope.since.isoformat(),
        "task": scope.task,
        "metric": "mae" if scope.task == REGRESSION else "accuracy",
        "alpha": scope.alpha,
    }


def _sample_ratio(log: PredictionLog, scope: Scope) -> dict[str, Any] | None:
    """Routed assignment (what the bucket chose) against the configured split, per split that was in force."""
    strata: dict[int, list[int]] = {}
    fallbacks = 0
    for row in log.assignments(scope.experiment_id, scope.since):
        counts = strata.setdefault(int(row.b_share), [0, 0])
        counts[0 if row.wanted == "A" else 1] += int(row.requests)
        fallbacks += int(row.fallbacks)
    check = sample_ratio([(a, b, share / 100) for share, (a, b) in sorted(strata.items())])
    if check is None:
        return None
    return {
        "assigned": {"A": check.assigned_a, "B": check.assigned_b},
        "expected_b_percent": round(check.expected_b_share * 100, 4),
        "p_value": check.p_value,
        "mismatch": check.mismatch,
        "fallback_served": fallbacks,
    }


def _shadow(
    log: PredictionLog, scope: Scope, live: dict[str, tuple[Any, Sample]]
) -> tuple[dict[str, Any], Sample]:
    """The shadow's entry; ``live`` is the live rows' totals by variant, as ``report`` read them."""
    assert scope.shadow_of is not None
    live_variant, shadow_variant = scope.shadow_of
    experiment, since = scope.experiment_id, scope.since
    live_totals = live.get(live_variant, (None, NO_LABELS))[0]
    totals, sample = _samples(log.variant_totals(experiment, since, shadow=True)).get(
        shadow_variant, (None, NO_LABELS)
    )
    scored, agreeing = log.shadow_agreement(experiment, since)
    latency = {}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        live_ms, shadow_ms = (
            log.latency_quantile(q, _requests(rows), experiment, since, variant=variant, shadow=shadow,
                                 column="model_ms")
            for rows, variant, shadow in ((live_totals, live_variant, False), (totals, shadow_variant, True))
        )  # fmt: skip
        latency[name] = None if live_ms is None or shadow_ms is None else _ms(shadow_ms - live_ms)
    return {
        "variant": shadow_variant,
        "predictions": _requests(totals),
        **_quality(sample, scope),
        "agreement": None if not scored else agreeing / scored,
        "model_ms_difference": latency,  # shadow minus live, of the predict call alone
    }, sample
