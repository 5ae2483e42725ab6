"""What a loaded model's predict call costs on this replica, measured once at load.

The app decides per request where a prediction runs: one cheap enough runs on the event loop (handing it to a
thread would cost more than the prediction), anything else on a worker thread. That needs each model's cost,
which only a measurement tells: a linear model answers one row in microseconds, a forest of trees in
milliseconds, a pyfunc model in whatever its code takes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.repository.predictors import ModelInput, row_count

_TIMED_CALLS = 5
_TILED_ROWS = 64
MEASURE_ONLY_BELOW_MS = 5.0
"""A model slower than this on its smoke input is not timed further: it will never be cheap enough to run on
the event loop, and more calls would only slow its load."""


@dataclass(frozen=True)
class PredictCost:
    """One call's cost in milliseconds: a fixed part, and a part per row."""

    fixed_ms: float
    per_row_ms: float

    def estimate_ms(self, rows: int) -> float:
        return self.fixed_ms + self.per_row_ms * rows


UNKNOWN_COST = PredictCost(math.inf, math.inf)
"""Not measured: the model is treated as expensive (it never runs on the event loop)."""


def _best_of(calls: int, predict: Callable[[ModelInput], list[Any]], inputs: ModelInput) -> float:
    """The fastest of ``calls`` timed calls, in ms: the least disturbed by whatever else the machine does."""
    best = math.inf
    for _ in range(calls):
        started = time.perf_counter()
        predict(inputs)
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def measure_cost(
    predict: Callable[[ModelInput], list[Any]], smoke: ModelInput, smoke_ms: float
) -> PredictCost:
    """The cost of ``predict``, which answered ``smoke`` (the load's smoke input) in ``smoke_ms``.

    Float rows are timed at one row and at ``_TILED_ROWS`` copies of it: the fixed and the per-row part.
    Other input (and a slow model) is charged its whole smoke cost as the fixed part and again spread per
    row: an overestimate, so that a model not plainly cheap stays off the event loop. A model that fails a
    timed call is not measured.
    """
    slow = smoke_ms > MEASURE_ONLY_BELOW_MS
    try:
        if isinstance(smoke, np.ndarray) and not slow:
            one = smoke[:1]
            one_ms = _best_of(_TIMED_CALLS, predict, one)
            many_ms = _best_of(_TIMED_CALLS, predict, np.repeat(one, _TILED_ROWS, axis=0))
            per_row = max(0.0, (many_ms - one_ms) / (_TILED_ROWS - 1))
            return PredictCost(max(0.0, one_ms - per_row), per_row)
        whole_ms = smoke_ms if slow else _best_of(_TIMED_CALLS, predict, smoke)
        return PredictCost(whole_ms, whole_ms / max(1, row_count(smoke)))
    except Exception:  # the smoke prediction passed; a timing call failing leaves the model expensive
        return UNKNOWN_COST
