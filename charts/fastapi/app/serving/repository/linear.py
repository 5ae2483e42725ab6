"""A linear classifier's ``predict`` on rows the app has already validated, without sklearn's checks.

sklearn's ``predict`` re-validates its input on every call (dataframe detection, the array-API namespace,
finiteness, feature names): ~0.1 ms per call, fifty times the arithmetic of a one-row linear model. The
app's float rows are already a finite, C-ordered float64 matrix of the model's width, so for the linear
classifiers (logistic regression, SGD, linear SVM, perceptron) this is the arithmetic sklearn runs after its
checks (``X @ coef_.T + intercept_``, then the class by sign or arg-max), in the same order on the same
arrays: the same answer to the bit. Any other estimator, and any other input, keeps sklearn's ``predict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.linear_model._base import LinearClassifierMixin

Rows = npt.NDArray[np.float64]
FastPredict = Callable[[Rows], npt.NDArray[Any]]


def _dense_float64(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == np.float64


def linear_predict(estimator: Any) -> FastPredict | None:
    """The check-free predict of a fitted linear classifier with dense float64 weights; None for any other."""
    if type(estimator).predict is not LinearClassifierMixin.predict:
        return None  # a predict of its own (ridge's, a regressor's): only sklearn's shared one is mirrored
    coef, intercept = getattr(estimator, "coef_", None), getattr(estimator, "intercept_", 0.0)
    if not isinstance(coef, np.ndarray) or coef.dtype != np.float64:
        return None  # e.g. sparsified weights: sklearn's own predict handles them
    if not (_dense_float64(intercept) or isinstance(intercept, float)):
        return None
    weights, classes = coef.T, estimator.classes_

    def classify(rows: Rows) -> npt.NDArray[Any]:
        scores = rows @ weights + intercept
        if scores.shape[1] == 1:  # binary: the positive class where the score is above zero
            return classes[(scores.ravel() > 0).astype(int)]  # type: ignore[no-any-return]
        return classes[scores.argmax(axis=1)]  # type: ignore[no-any-return]

    return classify


def applies(rows: Any, width: int) -> bool:
    """``rows`` are what the fast path was written for: a finite C-ordered 2-D float64 matrix ``width`` wide
    (anything else gets sklearn's checks, and its error)."""
    return (
        isinstance(rows, np.ndarray)
        and rows.dtype == np.float64
        and rows.ndim == 2
        and rows.shape[1] == width
        and rows.flags.c_contiguous
        and bool(np.isfinite(rows).all())
    )
