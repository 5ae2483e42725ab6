"""A deliberately bad release candidate, logged as an MLflow "model from code" (no pickle).

It answers like an iris classifier for short petals and raises for every row whose petal length exceeds
4.5 cm — about half of the iris rows — so a canary of it fails on part of the traffic while its input
example (a short-petal row) passes the serving app's smoke test. The demo and the release tests use it to
show a canary stopped at its first step. This file is executed by MLflow when the model loads: it imports
nothing from this repository.
"""

import numpy as np
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel

PETAL_LENGTH_COLUMN = 2
FAILS_ABOVE_CM = 4.5


class FaultyIris(PythonModel):
    # No annotations: MLflow reads a predict's type hints as a schema of their own and warns about ``Any``.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        rows = np.asarray(model_input, dtype=float)
        if (rows[:, PETAL_LENGTH_COLUMN] > FAILS_ABOVE_CM).any():
            raise ValueError("faulty candidate: petal length above 4.5 cm")
        return np.zeros(len(rows), dtype=np.int64)


set_model(FaultyIris())
