"""Turn a downloaded MLflow model into something that predicts on a float matrix.

sklearn models without named columns take the native fast path (numpy straight into ``model.predict``,
~0.1 ms a row), those fitted on named columns get them as a DataFrame; every other flavor (loaded only when
the operator allows formats that run code) goes through pyfunc with input shaped by the model's signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import numpy.typing as npt
import pandas as pd
import skops.io
from mlflow.models import Model
from mlflow.pyfunc import PyFuncModel
from mlflow.types.schema import Schema, TensorSpec

from serving.repository.trust import TRUSTED_SKOPS_TYPES

Matrix = npt.NDArray[np.float64]


class Predictor(Protocol):
    path: str
    n_features: int | None
    # "classification" | "regression" as the signature's output type says; None when it says nothing.
    signature_task: str | None

    def predict(self, rows: Matrix) -> list[Any]: ...


def _as_list(output: Any) -> list[Any]:
    if isinstance(output, pd.DataFrame):
        return list(output.to_dict(orient="records")) if output.shape[1] > 1 else output.iloc[:, 0].tolist()
    if isinstance(output, pd.Series | np.ndarray):
        return list(output.tolist())
    return list(output)


class NativeSklearnPredictor:
    path = "sklearn-native"

    def __init__(self, model: Any, n_features: int | None, signature_task: str | None) -> None:
        self._model = model
        self.n_features = n_features
        self.signature_task = signature_task

    def predict(self, rows: Matrix) -> list[Any]:
        return list(self._model.predict(rows).tolist())


class NamedColumnsSklearnPredictor:
    path = "sklearn-named-columns"

    def __init__(self, model: Any, columns: list[str], signature_task: str | None) -> None:
        self._model = model
        self._columns = columns
        self.n_features: int | None = len(columns)
        self.signature_task = signature_task

    def predict(self, rows: Matrix) -> list[Any]:
        return _as_list(self._model.predict(pd.DataFrame(rows, columns=self._columns)))


IN_MEMORY_PATHS = frozenset({NativeSklearnPredictor.path, NamedColumnsSklearnPredictor.path})
"""Predictors holding the whole model in memory: their downloaded files can go at once."""


class PyfuncPredictor:
    path = "pyfunc"

    def __init__(self, model: PyFuncModel, inputs: Schema | None, signature_task: str | None) -> None:
        self._model = model
        self._inputs = inputs
        self.n_features = _width(inputs)
        self.signature_task = signature_task

    def _shape(self, rows: Matrix) -> Any:
        if self._inputs is None:
            return pd.DataFrame(rows)
        if self._inputs.is_tensor_spec():
            spec = self._inputs.inputs[0]
            assert isinstance(spec, TensorSpec)
            return rows.astype(spec.type, copy=False)
        return pd.DataFrame(rows, columns=self._inputs.input_names())

    def predict(self, rows: Matrix) -> list[Any]:
        return _as_list(self._model.predict(self._shape(rows)))


def _width(inputs: Schema | None) -> int | None:
    if inputs is None:
        return None
    if inputs.is_tensor_spec():
        spec = inputs.inputs[0]
        assert isinstance(spec, TensorSpec)
        return int(spec.shape[-1]) if len(spec.shape) == 2 and spec.shape[-1] > 0 else None
    return len(inputs.input_names())


def _signature_task(outputs: Schema | None) -> str | None:
    """Floating-point outputs are a regression's; integers, strings and booleans are class labels."""
    if outputs is None or not outputs.inputs:
        return None
    kinds = {np.dtype(kind).kind for kind in outputs.numpy_types()}
    if kinds == {"f"}:
        return "regression"
    return "classification"


def load_predictor(model_dir: Path, meta: Model, skops_file: Path | None) -> tuple[Predictor, Matrix | None]:
    """The predictor for the model in ``model_dir`` and its input example as a float matrix, if any.

    ``skops_file``: the model is a skops sklearn model the loader has vetted; it is loaded with the app's own
    trusted types. Otherwise the format is one the operator allowed to run code, loaded by MLflow.
    """
    inputs = meta.signature.inputs if meta.signature is not None else None
    task = _signature_task(meta.signature.outputs if meta.signature is not None else None)
    example = meta.load_input_example(str(model_dir))
    example_matrix = None if example is None else np.asarray(example, dtype=np.float64)
    if example_matrix is not None and example_matrix.ndim == 1:
        example_matrix = example_matrix.reshape(1, -1)

    if skops_file is not None:
        estimator = skops.io.load(skops_file, trusted=list(TRUSTED_SKOPS_TYPES))
        return _sklearn_predictor(estimator, inputs, task), example_matrix
    if "sklearn" in meta.flavors:
        return _sklearn_predictor(mlflow.sklearn.load_model(str(model_dir)), inputs, task), example_matrix
    return PyfuncPredictor(mlflow.pyfunc.load_model(str(model_dir)), inputs, task), example_matrix


def _sklearn_predictor(estimator: Any, inputs: Schema | None, task: str | None) -> Predictor:
    # Fitted on named columns: numpy input would warn on every call, so the rows get the fitted names.
    names = getattr(estimator, "feature_names_in_", None)
    width = _width(inputs) or getattr(estimator, "n_features_in_", None)
    if names is None:
        return NativeSklearnPredictor(estimator, width, task)
    return NamedColumnsSklearnPredictor(estimator, [str(name) for name in names], task)
