"""The request bodies the bench sends: N rows of iris features in each server's protocol (pure)."""

from __future__ import annotations

import json

ROW = [5.1, 3.5, 1.4, 0.2]


def _rows(count: int) -> list[list[float]]:
    if count < 1:
        raise ValueError(f"a request has at least one row, not {count}")
    return [ROW] * count


def our_body(rows: int) -> str:
    """Our app's ``POST /predict``: ``{"data": [[...], ...]}``."""
    return json.dumps({"data": _rows(rows)})


def mlflow_body(rows: int) -> str:
    """``mlflow models serve``'s ``/invocations``: the model's signature is a tensor spec, so ``inputs``."""
    return json.dumps({"inputs": _rows(rows)})


def v2_body(rows: int) -> str:
    """The Open Inference Protocol v2 request, the same for every v2 server: one FP64 tensor of shape
    ``[rows, 4]``, its data flat in row-major order as the protocol allows."""
    flat = [value for row in _rows(rows) for value in row]
    return json.dumps(
        {"inputs": [{"name": "input-0", "shape": [rows, len(ROW)], "datatype": "FP64", "data": flat}]}
    )
