"""The release policy (from git, through the environment): canary steps, the analysis gates, the timeouts.

Every variable is optional; an empty value means unset (Helm renders absent values as ""). A bad value is a
:class:`UsageError` whose one line names the variable and the rule it breaks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from mlpipeline.params import finite_float
from mlpipeline.release.errors import UsageError

T = TypeVar("T")
# Below this p99 both variants are fast enough that a ratio between them is noise.
P99_FLOOR_SECONDS = 0.010
VARIABLES = {
    "steps": "RELEASE_STEPS",
    "step_seconds": "RELEASE_STEP_SECONDS",
    "min_requests": "RELEASE_MIN_REQUESTS",
    "max_error_rate": "RELEASE_MAX_ERROR_RATE",
    "max_p99_ratio": "RELEASE_MAX_P99_RATIO",
    "quality_margin": "RELEASE_QUALITY_MARGIN",  # how much worse B's online metric may be than A's
    "converge_seconds": "RELEASE_CONVERGE_SECONDS",  # how long every replica may take to report a change
    "poll_seconds": "RELEASE_POLL_SECONDS",  # how often convergence and the analysis window are checked
}


@dataclass(frozen=True)
class ReleasePolicy:
    steps: tuple[int, ...] = (5, 25, 50, 100)
    step_seconds: float = 60.0
    min_requests: int = 50
    max_error_rate: float = 0.01
    max_p99_ratio: float = 1.5
    # In the model's metric: accuracy points for a classifier (0.02 = two points), MAE units for a regressor.
    quality_margin: float = 0.02
    converge_seconds: float = 90.0
    poll_seconds: float = 2.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str], defaults: ReleasePolicy | None = None) -> ReleasePolicy:
        """The policy from ``environ``; unset variables keep ``defaults`` (the environment's values)."""
        base = defaults or cls()
        values: dict[str, Any] = {}
        for spec in fields(cls):
            variable = VARIABLES[spec.name]
            raw = environ.get(variable, "").strip()
            values[spec.name] = _PARSERS[spec.name](variable, raw) if raw else getattr(base, spec.name)
        return cls(**values)

    def describe(self) -> str:
        return (
            f"steps {','.join(map(str, self.steps))}%, {self.step_seconds:g} s or "
            f"{self.min_requests} requests per step, B 5xx rate <= A's + {self.max_error_rate:g}, "
            f"B p99 <= {self.max_p99_ratio:g} x A's, B's labelled quality not worse than A's "
            f"by more than {self.quality_margin:g}"
        )


def _number(variable: str, raw: str, kind: Callable[[str], T], rule: str) -> T:
    try:
        return kind(raw)
    except ValueError:
        raise UsageError(f"{variable}={raw!r}: must be {rule}") from None


def _ranged(kind: Callable[[str], T], low: float, high: float, rule: str) -> Callable[[str, str], T]:
    def parse(variable: str, raw: str) -> T:
        value = _number(variable, raw, kind, rule)
        if not low <= float(value) <= high:  # type: ignore[arg-type]
            raise UsageError(f"{variable}={raw!r}: must be {rule}")
        return value

    return parse


def _positive_seconds(variable: str, raw: str) -> float:
    rule = "a number of seconds > 0 and <= 86400"
    value = _number(variable, raw, finite_float, rule)
    if not 0 < value <= 86400:
        raise UsageError(f"{variable}={raw!r}: must be {rule}")
    return value


def _steps(variable: str, raw: str) -> tuple[int, ...]:
    rule = "comma-separated percents 1..100, strictly increasing, ending at 100 (e.g. 5,25,50,100)"
    parts = [part.strip() for part in raw.split(",")]
    if not all(part.isdigit() for part in parts):
        raise UsageError(f"{variable}={raw!r}: must be {rule}")
    steps = tuple(int(part) for part in parts)
    increasing = all(low < high for low, high in itertools.pairwise(steps))
    if not increasing or steps[0] < 1 or steps[-1] != 100:
        raise UsageError(f"{variable}={raw!r}: must be {rule}")
    return steps


_PARSERS: dict[str, Callable[[str, str], object]] = {
    "steps": _steps,
    "step_seconds": _positive_seconds,
    "min_requests": _ranged(int, 1, 10**9, "an integer >= 1"),
    "max_error_rate": _ranged(finite_float, 0.0, 1.0, "a fraction 0..1 (0.01 = one point of 5xx rate)"),
    "max_p99_ratio": _ranged(finite_float, 1.0, 1000.0, "a ratio >= 1 (1.5 = B's p99 at most 1.5 x A's)"),
    "quality_margin": _ranged(
        finite_float,
        0.0,
        float("inf"),
        "a number >= 0 in the model's metric (0.02: B at most 2 accuracy points, or 0.02 MAE, worse than A)",
    ),
    "converge_seconds": _positive_seconds,
    "poll_seconds": _positive_seconds,
}
