"""Turn a downloaded MLflow model into something that predicts, on float rows or on typed input.

Two ways in. Float rows (a ``Matrix``) take the native fast path when they are the model's own input: a plain
numeric sklearn model gets them straight into ``model.predict`` (~0.1 ms a row). Everything else (named
columns of mixed types, tensors of other types, a request's params) is ``Typed`` input and goes through
pyfunc's own schema enforcement first, so the model sees exactly what ``mlflow models serve`` would give it.
Every flavor other than skops sklearn (loaded only when the operator allows formats that run code) is
MLflow's own pyfunc model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import numpy.typing as npt
import pandas as pd
import skops.io
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.pyfunc import PyFuncModel
from mlflow.types import DataType
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from serving.repository.linear import applies, linear_predict
from serving.repository.trust import TRUSTED_SKOPS_TYPES

Matrix: TypeAlias = npt.NDArray[np.float64]
PyfuncData: TypeAlias = pd.DataFrame | npt.NDArray[Any] | dict[str, npt.NDArray[Any]]

NUMERIC_COLUMN_TYPES = frozenset({DataType.double, DataType.float, DataType.long, DataType.integer})
_MOST_MESSAGE_CHARACTERS = 300


class SchemaMismatch(ValueError):
    """The input does not fit the model's signature; the message names the problem and is safe to return."""


@dataclass(frozen=True)
class Typed:
    """Input for pyfunc's schema enforcement (a DataFrame, a tensor or named tensors) and the request's
    params, which only a model whose signature declares params receives."""

    data: PyfuncData
    rows: int
    params: dict[str, Any] | None = None

    def loggable(self) -> Any:
        """The input as JSON-able values, as the prediction log records features."""
        if isinstance(self.data, pd.DataFrame):
            return self.data.to_dict(orient="split", index=False)
        if isinstance(self.data, dict):
            return {name: values.tolist() for name, values in self.data.items()}
        return self.data.tolist()


ModelInput: TypeAlias = Matrix | Typed


def row_count(inputs: ModelInput) -> int:
    return inputs.rows if isinstance(inputs, Typed) else len(inputs)


def loggable(inputs: ModelInput) -> Any:
    return inputs.loggable() if isinstance(inputs, Typed) else inputs


class Predictor(Protocol):
    path: str
    # The signature's inputs, None without one; ``numeric``: float rows are the model's own input, so a
    # protocol may hand it a Matrix of ``n_features`` columns (the fast path) instead of Typed input.
    inputs: Schema | None
    numeric: bool
    n_features: int | None
    # "classification" | "regression" as the signature's output type says; None when it says nothing.
    signature_task: str | None
    outputs: Schema | None

    def predict(self, inputs: ModelInput) -> list[Any]: ...


def _as_list(output: Any) -> list[Any]:
    if isinstance(output, pd.DataFrame):
        return list(output.to_dict(orient="records")) if output.shape[1] > 1 else output.iloc[:, 0].tolist()
    if isinstance(output, pd.Series | np.ndarray):
        return list(output.tolist())
    return list(output)


def one_line(text: str) -> str:
    """MLflow's and pandas' messages as one bounded line: they may span lines and repeat the whole input."""
    line = " ".join(text.split())
    return line if len(line) <= _MOST_MESSAGE_CHARACTERS else line[: _MOST_MESSAGE_CHARACTERS - 1] + "…"


def _mismatch(error: MlflowException) -> SchemaMismatch:
    """The enforcement's own reason (MLflow wraps it in a message that repeats the whole input)."""
    reason = error.__context__ if isinstance(error.__context__, Exception) else error
    text = one_line(str(getattr(reason, "message", reason)))
    return SchemaMismatch(f"the input does not match the model's signature: {text}")


def enforce_and_predict(model: PyFuncModel, inputs: Typed) -> list[Any]:
    """pyfunc's schema enforcement, then the model; an input the enforcement refuses is a SchemaMismatch."""
    declares_params = model.metadata.get_params_schema() is not None  # type: ignore[no-untyped-call]
    params = inputs.params if declares_params else None
    try:
        return _as_list(model.predict(inputs.data, params))
    except MlflowException as error:
        if error.error_code == "INVALID_PARAMETER_VALUE":
            raise _mismatch(error) from None
        raise


class _FittedEstimator:
    """A vetted estimator as pyfunc's model implementation: the data it receives is already enforced."""

    def __init__(self, estimator: Any) -> None:
        self._estimator = estimator
        names = getattr(estimator, "feature_names_in_", None)
        self._names = None if names is None else [str(name) for name in names]

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        # As fitted: numpy for an estimator fitted without names (a DataFrame would warn on every call),
        # the fitted names otherwise.
        if self._names is None and isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        elif self._names is not None and isinstance(data, np.ndarray) and data.ndim == 2:
            data = pd.DataFrame(data, columns=self._names)
        return self._estimator.predict(data)


class SklearnPredictor:
    """A vetted sklearn estimator: native on float rows when they are its input, pyfunc-enforced otherwise."""

    def __init__(self, estimator: Any, meta: Model) -> None:
        signature = meta.signature
        self.inputs = signature.inputs if signature is not None else None
        self.outputs = signature.outputs if signature is not None else None
        self.signature_task = _signature_task(self.outputs)
        names = getattr(estimator, "feature_names_in_", None)
        self._columns = None if names is None else [str(name) for name in names]
        self.path = "sklearn-native" if self._columns is None else "sklearn-named-columns"
        self.n_features = _width(self.inputs) or getattr(estimator, "n_features_in_", None)
        self.numeric = _is_numeric(self.inputs)
        self._estimator = estimator
        self._pyfunc = PyFuncModel(meta, _FittedEstimator(estimator))
        width: int = getattr(estimator, "n_features_in_", 0)
        fast = linear_predict(estimator) if self._columns is None and self.numeric and width else None
        self._fast, self._fast_width = fast, width

    def predict(self, inputs: ModelInput) -> list[Any]:
        if isinstance(inputs, Typed):
            return enforce_and_predict(self._pyfunc, inputs)
        if not self.numeric:  # float rows for a model of other types: the enforcement says what is wrong
            return enforce_and_predict(self._pyfunc, Typed(_frame(inputs, self.inputs), len(inputs)))
        if self._fast is not None and applies(inputs, self._fast_width):
            return list(self._fast(inputs).tolist())
        if self._columns is None:
            return list(self._estimator.predict(inputs).tolist())
        return _as_list(self._estimator.predict(pd.DataFrame(inputs, columns=self._columns)))


class PyfuncPredictor:
    """Any other flavor, as MLflow loads it (only with the operator's opt-in to formats that run code)."""

    path = "pyfunc"

    def __init__(self, model: PyFuncModel, meta: Model) -> None:
        signature = meta.signature
        self.inputs = signature.inputs if signature is not None else None
        self.outputs = signature.outputs if signature is not None else None
        self.signature_task = _signature_task(self.outputs)
        self.n_features = _width(self.inputs)
        self.numeric = _is_numeric(self.inputs)
        self._model = model

    def predict(self, inputs: ModelInput) -> list[Any]:
        if isinstance(inputs, Typed):
            return enforce_and_predict(self._model, inputs)
        return enforce_and_predict(self._model, Typed(_frame(inputs, self.inputs), len(inputs)))


IN_MEMORY_PATHS = frozenset({"sklearn-native", "sklearn-named-columns"})
"""Predictors holding the whole model in memory: their downloaded files can go at once."""


def _frame(rows: Matrix, inputs: Schema | None) -> PyfuncData:
    """Float rows as the signature's shape: a tensor as its type, named columns as a DataFrame."""
    if inputs is None:
        return pd.DataFrame(rows)
    if inputs.is_tensor_spec():
        spec = inputs.inputs[0]
        assert isinstance(spec, TensorSpec)
        tensor: npt.NDArray[Any] = rows.astype(spec.type, copy=False)
        return tensor
    names = inputs.input_names()
    if len(names) != rows.shape[1]:
        raise SchemaMismatch(
            f"each row must have {len(names)} values (the model's columns); got {rows.shape[1]}"
        )
    return pd.DataFrame(rows, columns=names)


def _is_numeric(inputs: Schema | None) -> bool:
    """Float rows are the model's input: no signature, a 2-D numeric tensor, or only numeric columns."""
    if inputs is None:
        return True
    if inputs.is_tensor_spec():
        spec = inputs.inputs[0]
        assert isinstance(spec, TensorSpec)
        return len(inputs.inputs) == 1 and len(spec.shape) == 2 and spec.type.kind in "fiu"
    return all(isinstance(col, ColSpec) and col.type in NUMERIC_COLUMN_TYPES for col in inputs.inputs)


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


def example_input(predictor: Predictor, example: Any) -> ModelInput | None:
    """The version's input example as the predictor takes it: float rows when they are its input."""
    if example is None:
        return None
    if predictor.numeric and not isinstance(example, dict):
        try:
            rows = np.asarray(example, dtype=np.float64)
        except (TypeError, ValueError):
            pass
        else:
            return rows.reshape(1, -1) if rows.ndim == 1 else rows
    if isinstance(example, dict):
        first = next(iter(example.values()), np.empty(0))
        return Typed(example, len(first))
    data = example if isinstance(example, pd.DataFrame | np.ndarray) else pd.DataFrame(example)
    return Typed(data, len(data))


def load_predictor(
    model_dir: Path, meta: Model, skops_file: Path | None
) -> tuple[Predictor, ModelInput | None]:
    """The predictor for the model in ``model_dir`` and its input example, if any.

    ``skops_file``: the model is a skops sklearn model the loader has vetted; it is loaded with the app's own
    trusted types. Otherwise the format is one the operator allowed to run code, loaded by MLflow.
    """
    predictor: Predictor
    if skops_file is not None:
        predictor = SklearnPredictor(skops.io.load(skops_file, trusted=list(TRUSTED_SKOPS_TYPES)), meta)
    elif "sklearn" in meta.flavors:
        predictor = SklearnPredictor(mlflow.sklearn.load_model(str(model_dir)), meta)
    else:
        predictor = PyfuncPredictor(mlflow.pyfunc.load_model(str(model_dir)), meta)
    return predictor, example_input(predictor, meta.load_input_example(str(model_dir)))
