"""The DAG's Airflow Variables: defaults and bounds for the tunable ones, hard failures for the required ones.

Policy (seed): an optional Variable that is missing takes its default silently; one that is set but does not
parse or is out of bounds takes its default *and* says so (the ``warn`` callback goes to Slack), so a typo
never stops training but never goes unnoticed either. ``model_name`` and ``mlflow_alias`` have no safe
default: without it the task fails with one line naming the Variable. ``mlflow_alias`` is optional: empty
means the release strategy picks the alias (blue-green: the idle colour; canary and A/B test: B).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

SERVED_ALIASES: tuple[str, ...] = ("A", "B")
"""The aliases the serving app serves; moving any other alias would never reach a replica."""

Number = TypeVar("Number", int, float)


class ParameterError(ValueError):
    """A required Variable is missing or unusable; the message is one line naming it."""


@dataclass(frozen=True)
class Bounded(Generic[Number]):
    name: str
    default: Number
    parse: Callable[[str], Number]
    accepts: Callable[[Number], bool]
    rule: str

    def resolve(self, raw: str | None, warn: Callable[[str], None]) -> Number:
        if raw is None or not raw.strip():
            return self.default
        try:
            value = self.parse(raw.strip())
        except ValueError:
            value = None
        if value is None or not self.accepts(value):
            shown = raw.strip()[:40]
            warn(f"Variable {self.name}={shown!r} is invalid ({self.rule}); using default {self.default}")
            return self.default
        return value


def finite_float(raw: str) -> float:
    """``float(raw)``, refusing nan and the infinities with the same ValueError a non-number gets."""
    value = float(raw)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(raw)
    return value


LOGREG_C = Bounded("logreg_C", 1.0, finite_float, lambda c: 0.001 <= c <= 10.0, "a number from 0.001 to 10")
LOGREG_MAX_ITER = Bounded("logreg_max_iter", 200, int, lambda n: n > 50, "an integer above 50")
ACCURACY_THRESHOLD = Bounded(
    "accuracy_threshold", 0.9, finite_float, lambda t: 0.5 <= t <= 0.99, "a number from 0.5 to 0.99"
)
OPTIONAL_VARIABLES = (LOGREG_C, LOGREG_MAX_ITER, ACCURACY_THRESHOLD)
REQUIRED_VARIABLES: tuple[str, ...] = ("model_name",)


@dataclass(frozen=True)
class PipelineParams:
    model_name: str
    alias: str | None
    """None: the release strategy decides."""
    c: float
    max_iter: int
    accuracy_threshold: float

    def as_dict(self) -> dict[str, str | float | int | None]:
        return {
            "model_name": self.model_name,
            "alias": self.alias,
            "c": self.c,
            "max_iter": self.max_iter,
            "accuracy_threshold": self.accuracy_threshold,
        }


def _required(name: str, read: Callable[[str], str | None]) -> str:
    value = (read(name) or "").strip()
    if not value:
        raise ParameterError(f"required Airflow Variable {name!r} is not set (AIRFLOW_VAR_{name.upper()})")
    return value


def resolve_params(read: Callable[[str], str | None], warn: Callable[[str], None]) -> PipelineParams:
    """``read(name)`` returns a Variable's raw text or None; ``warn`` receives one line per replaced value."""
    model_name = _required("model_name", read)
    alias = (read("mlflow_alias") or "").strip() or None
    if alias is not None and alias not in SERVED_ALIASES:
        raise ParameterError(
            f"Airflow Variable 'mlflow_alias' is {alias[:16]!r}: the serving app serves only "
            + ", ".join(SERVED_ALIASES)
        )
    return PipelineParams(
        model_name=model_name,
        alias=alias,
        c=LOGREG_C.resolve(read(LOGREG_C.name), warn),
        max_iter=LOGREG_MAX_ITER.resolve(read(LOGREG_MAX_ITER.name), warn),
        accuracy_threshold=ACCURACY_THRESHOLD.resolve(read(ACCURACY_THRESHOLD.name), warn),
    )
