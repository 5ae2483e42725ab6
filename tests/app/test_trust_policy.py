"""The load policy as pure functions: every MLmodel flavor layout, location and answer shape the app judges.

The same rules on a real app and MLflow server are in ``test_model_trust.py``; these cover the layouts a test
there would have to build one model each for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from serving.repository.trust import (
    format_refusal,
    location_refusal,
    model_format,
    output_refusal,
    untrusted_refusal,
)

SKOPS_SKLEARN = {
    "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.skops"},
    "sklearn": {"pickled_model": "model.skops", "serialization_format": "skops", "skops_trusted_types": None},
}


@pytest.mark.parametrize(
    ("flavors", "described"),
    [
        ({"sklearn": {"pickled_model": "m.pkl", "serialization_format": "cloudpickle"}}, "with cloudpickle"),
        ({"sklearn": {"pickled_model": "m.pkl"}}, "sklearn model serialized with pickle"),  # MLflow's default
        ({"sklearn": {"serialization_format": "skops"}}, "serialized with skops"),  # but names no file
        ({"python_function": {"model_code_path": "code/model.py"}}, "python_function model from code"),
        ({"python_function": {"python_model": "python_model.pkl"}}, "with a cloudpickled python_model"),
        ({"python_function": {"loader_module": "mlflow.xgboost"}}, "model loaded by mlflow.xgboost"),
        ({"onnx": {"onnx": "model.onnx"}}, "model of flavor(s) onnx"),
        ({}, "model of flavor(s) none"),
    ],
)
def test_every_format_but_skops_sklearn_runs_code_and_needs_the_opt_in(
    flavors: dict[str, Any], described: str
) -> None:
    found = model_format(flavors)
    assert found.runs_code
    refusal = format_refusal("7", found, allow_code=False)
    assert refusal is not None
    assert described in refusal
    assert refusal.endswith("(set ALLOW_CODE_EXECUTING_MODELS=true to load such models)")
    assert format_refusal("7", found, allow_code=True) is None


def test_a_skops_sklearn_model_loads_without_the_opt_in_and_names_its_file() -> None:
    found = model_format(SKOPS_SKLEARN)
    assert (found.runs_code, found.skops_file) == (False, "model.skops")
    assert format_refusal("7", found, allow_code=False) is None


@pytest.mark.parametrize(
    ("uri", "where"),
    [
        ("s3://bucket/x", "a s3: location"),
        ("gs://bucket/x", "a gs: location"),
        ("file:///etc", "a file: location"),
        ("/etc", "a local path"),
        ("https://user:secret@evil.example/x", "a https: location"),
        (
            "mlflow-artifacts://evil.example:5000/1/x",
            "a mlflow-artifacts: location",
        ),  # another server's store
        ("runs:/abc/model", "a runs: location"),  # unresolved: the registry resolves it before judging
    ],
)
def test_only_the_registrys_own_store_is_a_location_to_load_from(uri: str, where: str) -> None:
    refusal = location_refusal("7", uri)
    assert refusal == f"version 7's files are at {where}, outside the registry's artifact store: refused"
    assert "secret" not in refusal
    assert "evil" not in refusal


def test_the_proxied_store_is_accepted() -> None:
    assert location_refusal("7", "mlflow-artifacts:/1/models/m-0123/artifacts") is None


def test_untrusted_skops_types_are_named_a_few_at_a_time() -> None:
    assert untrusted_refusal("7", []) is None
    many = [f"evil.T{index}" for index in range(7)]
    refusal = untrusted_refusal("7", many)
    assert refusal == (
        "version 7's skops file holds types the app does not trust: "
        "evil.T0, evil.T1, evil.T2, evil.T3, evil.T4 and 2 more: refused"
    )


@pytest.mark.parametrize(
    "output",
    [[0, 1, 2], [0.5, 1.5], ["setosa"], [{"label": 1, "score": 0.9}], np.array([1, 2]).tolist(), [True]],
)
def test_answers_the_api_can_send(output: list[Any]) -> None:
    assert output_refusal("7", output) is None


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ([float("nan")], "holds null, NaN or infinity"),
        ([float("inf")], "holds null, NaN or infinity"),
        ([None], "holds null, NaN or infinity"),
        ([{"score": float("nan")}], "holds null, NaN or infinity"),
        ([b"setosa"], "cannot be encoded as JSON (Type is not JSON serializable: bytes"),
        ([object()], "cannot be encoded as JSON (Type is not JSON serializable: object"),
        ([{1: "a"}], "cannot be encoded as JSON"),  # a DataFrame's records with integer column names
    ],
)
def test_answers_the_api_cannot_send_faithfully_are_refused(output: list[Any], problem: str) -> None:
    refusal = output_refusal("7", output)
    assert refusal is not None
    assert refusal.startswith(f"version 7's smoke prediction {problem}")
