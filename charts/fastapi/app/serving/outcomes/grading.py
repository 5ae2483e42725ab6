"""How a label grades a prediction: equality per row for classification, absolute error for regression."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import orjson

CLASSIFICATION: Final = "classification"
REGRESSION: Final = "regression"


class LabelError(ValueError):
    """The label cannot grade this prediction; the message names the problem and is safe to return."""


@dataclass(frozen=True)
class Outcome:
    """A request's graded rows: 1/0 per row (classification) or each row's absolute error (regression)."""

    n: int
    total: float
    total_sq: float


def canonical(value: Any) -> Any:
    """One spelling per label: 2, 2.0 and numpy's int64(2) are the same class; booleans stay booleans."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(key): canonical(item) for key, item in value.items()}
    return value


def encode(value: Any) -> str:
    """The stored text of a prediction or a label, comparable as text (sorted keys, canonical numbers)."""
    return orjson.dumps(canonical(value), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS).decode()


def per_row(label: Any, rows: int) -> list[Any]:
    """The label as one value per predicted row: a scalar grades a one-row request, a list grades each row."""
    if isinstance(label, list):
        if len(label) != rows:
            raise LabelError(f"label has {len(label)} values but the prediction has {rows} rows")
        return label
    if rows != 1:
        raise LabelError(f"the prediction has {rows} rows: give the label as a list of {rows} values")
    return [label]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LabelError(f"{what} must be a finite number for a regression model, got {type(value).__name__}")
    return float(value)


def grade(prediction: list[Any], labels: list[Any], task: str) -> Outcome:
    """Grade each predicted row with its label (``labels`` as ``per_row`` returns them)."""
    if task == REGRESSION:
        errors = [
            abs(_number(predicted, "the prediction") - _number(label, "label"))
            for predicted, label in zip(prediction, labels, strict=True)
        ]
        return Outcome(len(errors), sum(errors), sum(error * error for error in errors))
    # Compared as stored text: 2 and 2.0 are one class, but true is not the class 1 (as Python would say).
    correct = sum(
        encode(predicted) == encode(label) for predicted, label in zip(prediction, labels, strict=True)
    )
    return Outcome(len(labels), float(correct), float(correct))
