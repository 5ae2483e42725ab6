"""MLflow's scoring protocol (``mlflow models serve``): its JSON and CSV bodies, read by MLflow's own parser
so that whatever ``/invocations`` accepts there it accepts here, and turned into a model's input (pure)."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import orjson
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server

from serving.inference.inputs import InputError, Limits, float_rows
from serving.repository.predictors import ModelInput, Predictor, Typed, one_line

JSON = scoring_server.CONTENT_TYPE_JSON
CSV = scoring_server.CONTENT_TYPE_CSV
FORMATS = tuple(sorted(scoring_server.SUPPORTED_FORMATS))
PARAMS = scoring_server.SERVING_PARAMS_KEY


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InputError(f"the body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise InputError(f"the body must be a JSON object holding exactly one of {', '.join(FORMATS)}")
    return payload


def from_json(payload: dict[str, Any], predictor: Predictor, limits: Limits) -> ModelInput:
    """A JSON body: ``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``; ``params``."""
    found = [key for key in FORMATS if key in payload]
    if len(found) != 1:
        held = ", ".join(sorted(str(key)[:32] for key in payload)[:8]) or "nothing"
        raise InputError(f"the body must hold exactly one of {', '.join(FORMATS)}; it holds {held}")
    params = payload.get(PARAMS)
    if params is not None and not isinstance(params, dict):
        raise InputError(f"{PARAMS} must be an object of parameter names and values")
    key = found[0]
    try:
        data = scoring_server.infer_and_parse_data({key: payload[key]}, predictor.inputs)  # type: ignore[arg-type]
    except MlflowException as error:
        raise InputError(f"{key}: {one_line(error.message)}") from None
    except Exception as error:  # pandas and numpy refuse malformed frames in their own ways
        raise InputError(f"{key} could not be read: {one_line(str(error)) or type(error).__name__}") from None
    return _model_input(data, predictor, limits, params, key)


def from_csv(body: bytes, predictor: Predictor, limits: Limits) -> ModelInput:
    """A CSV body as ``pandas.DataFrame.to_csv()`` writes it, with a header row."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the CSV body is not valid UTF-8") from None
    # MLflow's CSV parser types columns by a column signature and fails on a tensor one: a tensor model's
    # CSV is read untyped, and the schema enforcement then shapes it as for a DataFrame in JSON.
    columns = (
        predictor.inputs if predictor.inputs is not None and not predictor.inputs.is_tensor_spec() else None
    )
    try:
        frame = scoring_server.parse_csv_input(io.StringIO(text), columns)  # type: ignore[arg-type]
    except MlflowException as error:
        raise InputError(one_line(error.message)) from None
    return _model_input(frame, predictor, limits, None, "the CSV body")


def _model_input(
    data: Any, predictor: Predictor, limits: Limits, params: dict[str, Any] | None, what: str
) -> ModelInput:
    if isinstance(data, pd.DataFrame):
        rows, width = data.shape
        _check(rows, width, limits, what)
        return Typed(data, rows, params)
    if isinstance(data, dict):  # named tensors
        arrays = {str(name): np.asarray(values) for name, values in data.items()}
        lengths = {len(array) if array.ndim else 0 for array in arrays.values()}
        if len(lengths) != 1:
            raise InputError(f"{what}: the named inputs disagree on the number of rows: {sorted(lengths)}")
        rows = lengths.pop()
        _check(rows, max(math.prod(array.shape[1:]) for array in arrays.values()), limits, what)
        return Typed(arrays, rows, params)
    array = np.asarray(data)
    if array.ndim == 0:
        raise InputError(f"{what} holds a single value; send a list of rows")
    rows = len(array)
    _check(rows, math.prod(array.shape[1:]), limits, what)
    matrix = float_rows(array, predictor, what)
    return matrix if matrix is not None else Typed(array, rows, params)


def _check(rows: int, per_row: int, limits: Limits, what: str) -> None:
    if rows == 0:
        raise InputError(f"{what} holds no rows")
    limits.check(rows, per_row, what)
