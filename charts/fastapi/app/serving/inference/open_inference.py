"""The Open Inference Protocol v2 (REST): its bodies, and how its tensors become a model's input and its
predictions become output tensors (pure; the routes do the I/O).

A model with a tensor signature (or none) takes one tensor; a model with named columns takes one tensor per
column (``[rows]`` or ``[rows, 1]``), or one ``[rows, columns]`` tensor holding every column in the
signature's order. Numeric 2-D input for a numeric model is handed over as float rows (the fast path);
anything else goes through pyfunc's schema enforcement, which checks the types the signature declares.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from mlflow.types import DataType
from mlflow.types.schema import ColSpec, Schema, TensorSpec
from pydantic import BaseModel, Field

from serving.inference.inputs import InputError, Limits, float_rows
from serving.repository.predictors import ModelInput, Predictor, Typed

NUMPY_TYPES: dict[str, npt.DTypeLike] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64",
    "BYTES",
]  # fmt: skip
# The JSON values each datatype accepts: a number is not a boolean, a boolean is not a number, and a
# float is not an integer (1.5 for INT64 is a client's mistake, not a value to truncate).
_JSON_TYPES: dict[str, frozenset[type]] = {
    **{name: frozenset({int}) for name in NUMPY_TYPES if name.startswith(("INT", "UINT"))},
    **{name: frozenset({int, float}) for name in ("FP16", "FP32", "FP64")},
    "BOOL": frozenset({bool}),
    "BYTES": frozenset({str}),
}
MOST_DIMENSIONS = 8
DEFAULT_OUTPUT = "predict"
"""The output tensor's name when the signature names none (as MLServer's sklearn runtime calls it)."""


class RequestInput(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    shape: list[int] = Field(min_length=1, max_length=MOST_DIMENSIONS)
    datatype: Datatype
    parameters: dict[str, Any] | None = None
    data: list[Any] = Field(description="the values, row-major: flat or nested as the shape")


class RequestOutput(BaseModel):
    name: str = Field(min_length=1, max_length=256)
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    id: str | None = Field(default=None, max_length=256)
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1, max_length=1024)
    outputs: list[RequestOutput] | None = None


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ResponseOutput(TensorMetadata):
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    outputs: list[ResponseOutput]


def _flatten(values: list[Any], where: str, depth: int = 1) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list):
            if depth >= MOST_DIMENSIONS:
                raise InputError(f"{where}: data is nested deeper than {MOST_DIMENSIONS} dimensions")
            yield from _flatten(value, where, depth + 1)
        else:
            yield value


def tensor(item: RequestInput, where: str) -> npt.NDArray[Any]:
    """One input's data as an array of its datatype and shape; an InputError naming what does not fit."""
    if any(size < 0 for size in item.shape):
        raise InputError(f"{where}: shape {item.shape} has a negative dimension")
    flat = list(_flatten(item.data, where))
    expected = math.prod(item.shape)
    if len(flat) != expected:
        raise InputError(f"{where}: shape {item.shape} holds {expected} values but data has {len(flat)}")
    accepted = _JSON_TYPES[item.datatype]
    for value in flat:
        if type(value) not in accepted:
            shown = repr(value)[:40]
            raise InputError(f"{where}: datatype {item.datatype} does not take the value {shown}")
    try:
        array = np.array(flat, dtype=NUMPY_TYPES[item.datatype])
    except OverflowError:
        raise InputError(f"{where}: a value is out of range for {item.datatype}") from None
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InputError(f"{where}: a value is out of range for {item.datatype}")
    return array.reshape(item.shape)


def model_input(request: InferenceRequest, predictor: Predictor, limits: Limits) -> ModelInput:
    """The request's tensors as ``predictor`` takes them."""
    tensors: dict[str, npt.NDArray[Any]] = {}
    for index, item in enumerate(request.inputs):
        where = f"inputs[{index}] ({item.name[:64]})"
        if item.name in tensors:
            raise InputError(f"{where}: the input {item.name[:64]!r} is given twice")
        tensors[item.name] = tensor(item, where)
    rows = {len(array) for array in tensors.values()}
    if len(rows) != 1:
        raise InputError(f"the inputs disagree on the number of rows (their first dimension): {sorted(rows)}")
    count = rows.pop()
    if count == 0:
        raise InputError("the inputs hold no rows: their first dimension is 0")
    limits.check(count, max(math.prod(array.shape[1:]) for array in tensors.values()), "the request")
    signature = predictor.inputs
    if signature is None or signature.is_tensor_spec():
        return _one_tensor(tensors, predictor, request.parameters)
    return _columns(tensors, signature, predictor, request.parameters)


def _one_tensor(
    tensors: dict[str, npt.NDArray[Any]], predictor: Predictor, params: dict[str, Any] | None
) -> ModelInput:
    if len(tensors) != 1:
        raise InputError(f"the model takes one input tensor; the request has {len(tensors)}")
    name, array = next(iter(tensors.items()))
    if predictor.inputs is not None:
        spec = predictor.inputs.inputs[0]
        assert isinstance(spec, TensorSpec)
        fits = len(spec.shape) == array.ndim and all(
            want in (-1, got) for want, got in zip(spec.shape, array.shape, strict=True)
        )
        if not fits:
            wanted = list(spec.shape)
            raise InputError(
                f"input {name[:64]!r} has shape {list(array.shape)}; the model takes {wanted} (-1: any)"
            )
    rows = float_rows(array, predictor, f"input {name[:64]!r}")
    return rows if rows is not None else Typed(array, len(array), params)


def _columns(
    tensors: dict[str, npt.NDArray[Any]],
    signature: Schema,
    predictor: Predictor,
    params: dict[str, Any] | None,
) -> ModelInput:
    names = signature.input_names()
    listed = ", ".join(str(name) for name in names)
    if len(tensors) == 1:
        name, array = next(iter(tensors.items()))
        if name not in names and array.ndim == 2:  # every column in one tensor, in the signature's order
            if array.shape[1] != len(names):
                raise InputError(
                    f"input {name[:64]!r} has {array.shape[1]} columns; the model has {len(names)} ({listed})"
                )
            rows = float_rows(array, predictor, f"input {name[:64]!r}")
            return rows if rows is not None else Typed(pd.DataFrame(array, columns=names), len(array), params)
    columns: dict[str, npt.NDArray[Any]] = {}
    for name, array in tensors.items():
        if name not in names:
            raise InputError(f"input {name[:64]!r} is not an input of the model; its inputs are {listed}")
        column = array[:, 0] if array.ndim == 2 and array.shape[1] == 1 else array
        if column.ndim != 1:
            raise InputError(f"input {name!r} has shape {list(array.shape)}; a column is [rows] or [rows, 1]")
        columns[name] = column
    required = (col.name for col in signature.inputs if isinstance(col, ColSpec) and col.required)
    if missing := [str(name) for name in required if name not in columns]:
        raise InputError(f"the model's input(s) {', '.join(missing)} are missing from the request")
    frame = pd.DataFrame(columns)
    return Typed(frame, len(frame), params)


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The protocol's datatype for a numpy dtype: booleans, sized integers and floats; the rest as BYTES."""
    if dtype.kind == "b":
        return "BOOL"
    if dtype.kind in "iuf":
        return {"i": "INT", "u": "UINT", "f": "FP"}[dtype.kind] + str(dtype.itemsize * 8)
    return "BYTES"


def _column_datatype(col: Any) -> str:
    kind = col.type
    if isinstance(kind, DataType) and kind not in (DataType.string, DataType.binary, DataType.datetime):
        return datatype_of(np.dtype(kind.to_numpy()))
    return "BYTES"


def tensors_metadata(schema: Schema | None, default_name: str) -> list[TensorMetadata]:
    """A signature's inputs or outputs as the protocol's tensor metadata (-1: any size)."""
    if schema is None:
        return []
    found = []
    for index, spec in enumerate(schema.inputs):
        name = spec.name or (default_name if len(schema.inputs) == 1 else f"{default_name}-{index}")
        if isinstance(spec, TensorSpec):
            found.append(TensorMetadata(name=name, datatype=datatype_of(spec.type), shape=list(spec.shape)))
        else:
            found.append(TensorMetadata(name=name, datatype=_column_datatype(spec), shape=[-1]))
    return found


def _output_tensor(name: str, values: list[Any]) -> ResponseOutput:
    array = np.asarray(values)
    datatype = datatype_of(array.dtype)
    data = [str(value) for value in array.reshape(-1)] if datatype == "BYTES" else array.reshape(-1).tolist()
    return ResponseOutput(name=name, datatype=datatype, shape=list(array.shape), data=data)


def output_tensors(
    prediction: list[Any], outputs: Schema | None, requested: list[RequestOutput] | None
) -> list[dict[str, Any]]:
    """The prediction as typed, shaped output tensors: one per column for a model answering records."""
    if prediction and all(isinstance(row, dict) for row in prediction):
        keys = list(prediction[0])
        tensors = [_output_tensor(str(key), [row.get(key) for row in prediction]) for key in keys]
    else:
        names = [meta.name for meta in tensors_metadata(outputs, DEFAULT_OUTPUT)]
        tensors = [_output_tensor(names[0] if len(names) == 1 else DEFAULT_OUTPUT, prediction)]
    if requested:
        available = {tensor.name: tensor for tensor in tensors}
        for index, wanted in enumerate(requested):
            if wanted.name not in available:
                listed = ", ".join(available)
                raise InputError(
                    f"outputs[{index}]: {wanted.name[:64]!r} is not an output of the model: {listed}"
                )
        tensors = [available[wanted.name] for wanted in requested]
    return [tensor.model_dump() for tensor in tensors]
