"""The linear classifiers' check-free predict answers exactly what sklearn's own ``predict`` answers.

Pure: fitted estimators in this process, no server. The app's float rows are validated before they reach a
model; the fast path must still give sklearn's answer to the bit, and leave every other estimator or input
to sklearn (whose checks then raise as before).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    Perceptron,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from serving.repository.linear import applies, linear_predict

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
DIABETES_X, DIABETES_Y = load_diabetes(return_X_y=True)
RANDOM_ROWS = np.random.default_rng(7).normal(0, 3, size=(500, 4))


def fitted(estimator: Any, binary: bool = False) -> Any:
    y = (IRIS_Y == 2) if binary else np.array(["setosa", "versicolor", "virginica"])[IRIS_Y]
    return estimator.fit(IRIS_X, y)


@pytest.mark.parametrize(
    ("estimator", "binary"),
    [
        (LogisticRegression(max_iter=1000), False),
        (LogisticRegression(max_iter=1000), True),
        (SGDClassifier(random_state=0), False),
        (Perceptron(random_state=0), True),
        (LinearSVC(), True),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, bool) else ("binary" if value else ""),
)
def test_the_fast_path_answers_what_sklearn_answers(estimator: Any, binary: bool) -> None:
    model = fitted(estimator, binary)
    fast = linear_predict(model)
    assert fast is not None
    width = model.n_features_in_
    rows = np.ascontiguousarray(np.vstack([IRIS_X, RANDOM_ROWS]))
    assert applies(rows, width)
    expected = model.predict(rows)
    assert np.array_equal(fast(rows), expected)
    assert np.array_equal(fast(rows[:1]), expected[:1])  # one row, as most requests send


def test_other_estimators_and_sparse_weights_keep_sklearn() -> None:
    assert linear_predict(DecisionTreeClassifier().fit(IRIS_X, IRIS_Y)) is None
    assert linear_predict(RidgeClassifier().fit(IRIS_X, IRIS_Y)) is None  # a predict of its own
    assert linear_predict(Ridge().fit(DIABETES_X, DIABETES_Y)) is None
    assert linear_predict(LinearRegression().fit(DIABETES_X, DIABETES_Y)) is None
    sparse = LogisticRegression(max_iter=1000).fit(IRIS_X, IRIS_Y).sparsify()
    assert linear_predict(sparse) is None


@pytest.mark.parametrize(
    "rows",
    [
        np.array([[5.1, np.nan, 1.4, 0.2]]),  # not finite: sklearn refuses it, and must still be asked
        np.array([[5.1, np.inf, 1.4, 0.2]]),
        np.array([[5, 3, 1, 0]]),  # integers
        np.array([[5.1, 3.5, 1.4]]),  # too narrow
        np.asfortranarray(np.ones((3, 4))),  # not C-ordered
        np.ones(4),  # one dimension
    ],
)
def test_inputs_it_was_not_written_for_go_to_sklearn(rows: Any) -> None:
    assert not applies(rows, 4)
