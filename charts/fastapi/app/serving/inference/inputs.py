"""The prediction request: its schema (types) and the structural checks that need the model (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from serving.repository.predictors import Predictor

# Strict: "1.5" and true are client mistakes, not numbers to coerce; NaN and Infinity are rejected too.
FiniteNumber = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class PredictRequest(BaseModel):
    data: list[list[FiniteNumber]] = Field(
        min_length=1, description="rows of feature values", examples=[[[5.1, 3.5, 1.4, 0.2]]]
    )


class InputError(ValueError):
    """The client's input does not fit the model; the message names the problem and is safe to return."""


def float_rows(array: npt.NDArray[Any], predictor: Predictor, what: str) -> npt.NDArray[np.float64] | None:
    """A decoded 2-D numeric array as the fast path's float rows, when they are ``predictor``'s own input
    (None: the input goes to the schema enforcement instead); their width must be the signature's."""
    if not (predictor.numeric and array.ndim == 2 and array.dtype.kind in "fiu"):
        return None
    width = array.shape[1]
    if predictor.n_features is not None and width != predictor.n_features:
        raise InputError(
            f"{what} has {width} values per row; the model's signature has {predictor.n_features}"
        )
    return array.astype(np.float64, copy=False)


@dataclass(frozen=True)
class Limits:
    """What one request may carry, whichever protocol: rows, and values per row (MAX_BATCH_ROWS,
    MAX_FEATURES)."""

    max_rows: int
    max_features: int

    def check(self, rows: int, per_row: int, what: str) -> None:
        if rows > self.max_rows:
            raise InputError(f"{what} has {rows} rows; at most {self.max_rows} are accepted per request")
        if per_row > self.max_features:
            raise InputError(
                f"{what} has {per_row} values per row; at most {self.max_features} are accepted per row"
            )


def to_matrix(
    rows: list[list[float]], *, n_features: int | None, max_rows: int, max_features: int
) -> npt.NDArray[np.float64]:
    """Rows: non-empty, at most ``max_rows`` of at most ``max_features``, as wide as the model's signature."""
    if not rows:
        raise InputError("data must contain at least one row")
    if len(rows) > max_rows:
        raise InputError(f"data has {len(rows)} rows; at most {max_rows} are accepted per request")
    width = len(rows[0])
    if width > max_features:
        raise InputError(f"data[0] has {width} values; at most {max_features} features are accepted per row")
    for index, row in enumerate(rows):
        if len(row) != width:
            raise InputError(
                f"data[{index}] has {len(row)} values but data[0] has {width}: rows must be equal"
            )
    if width == 0:
        raise InputError("data[0] is empty: each row needs at least one feature")
    if n_features is not None and width != n_features:
        raise InputError(f"each row must have {n_features} features (the model's signature); got {width}")
    return np.asarray(rows, dtype=np.float64)
