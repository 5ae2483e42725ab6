"""The Open Inference Protocol v2 and MLflow's scoring protocol on real app processes, against the real MLflow
server, spoken by independent real clients: Triton's HTTP client (``tritonclient``) for v2 and MLflow's own
``ScoringServerClient`` for ``/invocations``. The same row gets the same prediction, variant and version on
``/predict``, ``/v2/.../infer`` and ``/invocations``; routing, the release state, the prediction log,
feedback and metrics do not depend on the protocol. Models with a string column and with a float32 tensor
signature are served through pyfunc's schema enforcement."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
from tritonclient.utils import InferenceServerException

from tests.app.support import IRIS_ROW, TOKEN, metric, wait_for
from tooling.infra.localstack import LOOPBACK, MlflowServer, ServerProcess, app_server
from tooling.infra.registry_seed import (
    TYPED_ROWS,
    point_alias,
    register_float32_tensor_version,
    register_mixed_types_version,
    seed_variants,
)

pytestmark = pytest.mark.slow

IRIS = "protocols_iris"
MIXED = "protocols_mixed"
TENSOR = "protocols_tensor"
RELEASE_TAG = "serving.release"
CLIENTS = [f"client-{i}" for i in range(24)]


def start(
    mlflow_server: MlflowServer, tmp: Path, model: str, **env: str
) -> contextlib.AbstractContextManager[ServerProcess]:
    settings = {
        **mlflow_server.serving_env(),
        "MODEL_NAME": model,
        "RELOAD_SECRET_TOKEN": TOKEN,
        "REGISTRY_POLL_SECONDS": "0",
        "LOG_FILE": str(tmp / "logs" / "fastapi.log"),
        **env,
    }
    return app_server(settings, tmp / "app.out")


@pytest.fixture(scope="module")
def iris_versions(mlflow: MlflowServer) -> dict[str, str]:
    return seed_variants(mlflow.url, IRIS)


@pytest.fixture(scope="module")
def app(
    mlflow: MlflowServer, iris_versions: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """An A/B test of two iris versions, with the prediction log on."""
    tmp = tmp_path_factory.mktemp("protocols")
    env = {
        "ALIAS_SELECTION_MODE": "ab_test", "AB_SPLIT_PERCENT": "50", "EXPERIMENT_ID": "protocols",
        "PREDICTION_LOG_URL": f"sqlite:///{tmp / 'predictions.db'}",
    }  # fmt: skip
    with start(mlflow, tmp, IRIS, **env) as server:
        yield server


def both_aliases_on(mlflow_server: MlflowServer, model: str, version: str) -> None:
    for alias in ("A", "B"):
        point_alias(mlflow_server.url, model, alias, version)


@pytest.fixture(scope="module")
def mixed_app(mlflow: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    both_aliases_on(mlflow, MIXED, register_mixed_types_version(mlflow.url, MIXED).version)
    with start(mlflow, tmp_path_factory.mktemp("mixed"), MIXED) as server:
        yield server


@pytest.fixture(scope="module")
def tensor_app(mlflow: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    both_aliases_on(mlflow, TENSOR, register_float32_tensor_version(mlflow.url, TENSOR).version)
    with start(mlflow, tmp_path_factory.mktemp("tensor"), TENSOR) as server:
        yield server


def v2_client(app: ServerProcess) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=app.url.removeprefix("http://"))


def scoring_client(app: ServerProcess) -> ScoringServerClient:
    return ScoringServerClient(LOOPBACK, app.url.rsplit(":", 1)[1])


def v2_input(name: str, values: Any, datatype: str) -> triton.InferInput:
    array = np.asarray(values, dtype=object if datatype == "BYTES" else None)
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=False)
    return tensor


def iris_v2(rows: list[list[float]], datatype: str = "FP64") -> list[triton.InferInput]:
    dtype = np.float32 if datatype == "FP32" else np.float64
    return [v2_input("input-0", np.asarray(rows, dtype=dtype), datatype)]


def post(app: ServerProcess, path: str, body: Any, client_id: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"x-client-id": client_id} if client_id else {}
    return httpx.post(f"{app.url}{path}", json=body, headers=headers, timeout=30, **kw)


def v2_body(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    flat = [value for row in rows for value in row]
    shape = [len(rows), len(rows[0])]
    return {"inputs": [{"name": "input-0", "shape": shape, "datatype": "FP64", "data": flat}], **extra}


def test_triton_client_reads_the_server_and_the_model(
    app: ServerProcess, iris_versions: dict[str, str]
) -> None:
    client = v2_client(app)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["name"] == "model-serving"
    assert client.is_model_ready(IRIS)
    assert not client.is_model_ready("not-served")
    metadata = client.get_model_metadata(IRIS)
    assert metadata["name"] == IRIS
    assert metadata["versions"] == sorted(iris_versions.values(), key=int)
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert metadata["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    version_b = client.get_model_metadata(IRIS, model_version=iris_versions["B"])
    assert version_b["inputs"] == metadata["inputs"]
    with pytest.raises(InferenceServerException, match="not loaded"):
        client.get_model_metadata(IRIS, model_version="999")


def test_the_same_row_gets_the_same_prediction_and_variant_on_every_protocol(app: ServerProcess) -> None:
    client = v2_client(app)
    rows = [IRIS_ROW, [6.7, 3.0, 5.2, 2.3]]
    variants = set()
    for client_id in CLIENTS:
        ours = post(app, "/predict", {"data": rows}, client_id)
        assert ours.status_code == 200, ours.text
        variant, version = ours.headers["x-variant"], ours.headers["x-model-version"]
        variants.add(variant)

        request_id = f"req-{uuid.uuid4().hex[:8]}"
        result = client.infer(IRIS, iris_v2(rows), request_id=request_id, headers={"x-client-id": client_id})
        response = result.get_response()
        assert (response["model_name"], response["model_version"], response["id"]) == (
            IRIS,
            version,
            request_id,
        )
        assert result.as_numpy("predict").tolist() == ours.json()["prediction"]
        assert response["outputs"][0]["datatype"] == "INT64"
        assert response["outputs"][0]["shape"] == [2]

        v2 = post(app, f"/v2/models/{IRIS}/infer", v2_body(rows), client_id)
        scored = post(app, "/invocations", {"inputs": rows}, client_id)
        for answer in (v2, scored):
            assert answer.status_code == 200, answer.text
            assert (answer.headers["x-variant"], answer.headers["x-model-version"]) == (variant, version)
            assert answer.headers["x-request-id"]
        assert scored.json() == {"predictions": ours.json()["prediction"]}
        assert v2.json()["id"] == v2.headers["x-request-id"]  # no id in the body: the request id
    assert variants == {"A", "B"}


def test_mlflow_scoring_client_pings_and_scores_numpy_and_dataframes(app: ServerProcess) -> None:
    client = scoring_client(app)
    client.wait_server_ready(timeout=10)
    assert client.get_version() == mlflow.__version__
    rows = [IRIS_ROW, [6.7, 3.0, 5.2, 2.3]]
    live = post(app, "/predict", {"data": rows}).json()["prediction"]  # no client id: the live colour
    from_numpy = client.invoke(np.asarray(rows)).get_predictions(predictions_format="ndarray")
    assert from_numpy.tolist() == live
    frame = pd.DataFrame(rows, columns=["a", "b", "c", "d"])
    from_frame = client.invoke(frame).get_predictions(predictions_format="ndarray")
    assert from_frame.tolist() == live
    as_csv = httpx.post(
        f"{app.url}/invocations", content=frame.to_csv(index=False), headers={"content-type": "text/csv"}
    )
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.json() == {"predictions": live}


def test_an_explicit_version_is_served_by_its_alias_and_never_falls_back(
    app: ServerProcess, iris_versions: dict[str, str]
) -> None:
    client = v2_client(app)
    for alias, version in iris_versions.items():
        result = client.infer(IRIS, iris_v2([IRIS_ROW]), model_version=version)
        assert result.get_response()["model_version"] == version
        answer = post(app, f"/v2/models/{IRIS}/versions/{version}/infer", v2_body([IRIS_ROW]))
        assert (answer.status_code, answer.headers["x-variant"]) == (200, alias)
        assert httpx.get(f"{app.url}/v2/models/{IRIS}/versions/{version}/ready").status_code == 200
    with_parameters = v2_body([IRIS_ROW], id="p-1", parameters={"content_type": "np"})
    with_parameters["inputs"][0]["parameters"] = {"content_type": "np"}
    assert post(app, f"/v2/models/{IRIS}/infer", with_parameters).json()["id"] == "p-1"
    assert post(app, "/invocations", {"inputs": [IRIS_ROW], "params": {"alpha": 1}}).status_code == 200
    missing = post(app, f"/v2/models/{IRIS}/versions/999/infer", v2_body([IRIS_ROW]))
    assert missing.status_code == 404
    assert missing.json() == {"error": missing.json()["error"]}
    assert "999" in missing.json()["error"]
    for version in iris_versions.values():
        assert f"{version} (@" in missing.json()["error"]


def test_the_release_state_routes_every_protocol_alike(
    mlflow: MlflowServer, app: ServerProcess, iris_versions: dict[str, str]
) -> None:
    registry = MlflowClient(tracking_uri=mlflow.url, registry_uri=mlflow.url)
    state = {
        "schema": 1, "release_id": "r-protocols", "strategy": "ab_test", "phase": "releasing", "alias": "B",
        "candidate": iris_versions["B"], "ab_split_percent": 0, "experiment_id": "r-protocols",
    }  # fmt: skip
    registry.set_registered_model_tag(IRIS, RELEASE_TAG, json.dumps(state))
    try:
        assert (
            httpx.post(f"{app.url}/release/sync", headers={"x-token": TOKEN}, timeout=60).status_code == 200
        )
        for client_id in CLIENTS[:8]:
            for path, body in (
                ("/predict", {"data": [IRIS_ROW]}),
                (f"/v2/models/{IRIS}/infer", v2_body([IRIS_ROW])),
                ("/invocations", {"inputs": [IRIS_ROW]}),
            ):
                assert post(app, path, body, client_id).headers["x-variant"] == "B", path
    finally:
        with contextlib.suppress(MlflowException):
            registry.delete_registered_model_tag(IRIS, RELEASE_TAG)
        httpx.post(f"{app.url}/release/sync", headers={"x-token": TOKEN}, timeout=60)


def test_the_log_feedback_and_metrics_take_every_protocol_alike(app: ServerProcess) -> None:
    for path, body in (
        ("/predict", {"data": [IRIS_ROW]}),
        (f"/v2/models/{IRIS}/infer", v2_body([IRIS_ROW])),
        ("/invocations", {"inputs": [IRIS_ROW]}),
    ):
        answer = post(app, path, body, "feedback-client")
        variant, version = answer.headers["x-variant"], answer.headers["x-model-version"]
        before = metric(app, "serving_requests_total", variant=variant, version=version)
        label = post(app, path, body, "feedback-client")
        after = metric(app, "serving_requests_total", variant=variant, version=version)
        assert after == before + 1, path
        request_id = label.headers["x-request-id"]
        predicted = label.json()["predictions"][0] if path == "/invocations" else None
        if path == "/predict":
            predicted = label.json()["prediction"][0]
        elif path.startswith("/v2"):
            predicted = label.json()["outputs"][0]["data"][0]
        recorded = httpx.post(f"{app.url}/feedback", json={"request_id": request_id, "label": predicted})
        assert (recorded.status_code, recorded.json()["status"]) == (200, "recorded"), path


def test_a_model_with_a_string_column_serves_on_both_standard_protocols(mixed_app: ServerProcess) -> None:
    frame = pd.DataFrame(TYPED_ROWS)
    client = v2_client(mixed_app)
    metadata = client.get_model_metadata(MIXED)
    assert metadata["inputs"] == [
        {"name": "color", "datatype": "BYTES", "shape": [-1]},
        {"name": "size", "datatype": "INT64", "shape": [-1]},
        {"name": "weight", "datatype": "FP64", "shape": [-1]},
    ]
    inputs = [
        v2_input("weight", frame["weight"].to_numpy(), "FP64"),  # any order: the columns are named
        v2_input("color", frame["color"].to_numpy(), "BYTES"),
        v2_input("size", frame["size"].to_numpy(dtype=np.int64), "INT64"),
    ]
    result = client.infer(MIXED, inputs)
    labels = [label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("predict")]
    assert set(labels) <= {"cheap", "pricey"}
    assert result.get_response()["outputs"][0]["datatype"] == "BYTES"

    scoring = scoring_client(mixed_app)
    assert scoring.invoke(frame).get_predictions(predictions_format="ndarray").tolist() == labels
    records = post(mixed_app, "/invocations", {"dataframe_records": TYPED_ROWS})
    assert records.json() == {"predictions": labels}
    as_csv = httpx.post(
        f"{mixed_app.url}/invocations",
        content=frame.to_csv(index=False),
        headers={"content-type": "text/csv"},
    )
    assert as_csv.json() == {"predictions": labels}

    # The string column is checked by pyfunc's schema enforcement on every protocol: a number is refused.
    numbers = post(mixed_app, "/predict", {"data": [[1.0, 3.0, 4.5]]})
    assert numbers.status_code == 422
    assert "signature" in numbers.json()["detail"]
    wrong_type = [{"color": "red", "size": "three", "weight": 4.5}]
    refused = post(mixed_app, "/invocations", {"dataframe_records": wrong_type})
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "BAD_REQUEST"
    assert "Traceback" not in refused.text
    missing = post(mixed_app, f"/v2/models/{MIXED}/infer", {"inputs": [
        {"name": "color", "shape": [1], "datatype": "BYTES", "data": ["red"]},
    ]})  # fmt: skip
    assert missing.status_code == 400
    assert "size, weight" in missing.json()["error"]


def test_the_shadow_scores_typed_input_from_the_standard_protocols(
    mlflow: MlflowServer, mixed_app: ServerProcess, tmp_path: Path
) -> None:
    database = tmp_path / "shadow.db"
    env = {
        "ALIAS_SELECTION_MODE": "shadow", "PREDICTION_LOG_URL": f"sqlite:///{database}",
        "PREDICTION_LOG_FEATURES": "true", "PREDICTION_LOG_FLUSH_SECONDS": "0.2",
    }  # fmt: skip
    with start(mlflow, tmp_path, MIXED, **env) as app:
        columns = [
            {"name": "color", "shape": [2], "datatype": "BYTES", "data": ["red", "blue"]},
            {"name": "size", "shape": [2], "datatype": "INT64", "data": [3, 7]},
            {"name": "weight", "shape": [2], "datatype": "FP64", "data": [4.5, 7.5]},
        ]
        for _ in range(3):
            assert post(app, f"/v2/models/{MIXED}/infer", {"inputs": columns}).status_code == 200
            assert post(app, "/invocations", {"dataframe_records": TYPED_ROWS}).status_code == 200
        assert wait_for(lambda: metric(app, "serving_shadow_total", result="scored") == 6)
        assert metric(app, "serving_shadow_total", result="failed") == 0
        # The typed input is logged as its columns and rows, for the live answer and the shadow's alike.
        assert wait_for(lambda: len(logged_features(database)) == 12)
        expected = {"columns": ["color", "size", "weight"], "data": [["red", 3, 4.5], ["blue", 7, 7.5]]}
        assert all(json.loads(features) == expected for features in logged_features(database))


def logged_features(database: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        try:
            return [row[0] for row in connection.execute("SELECT features FROM predictions")]
        except sqlite3.OperationalError:  # the table is created by the app's first write
            return []


def test_a_float32_tensor_model_serves_alike_on_every_protocol(tensor_app: ServerProcess) -> None:
    rows = [IRIS_ROW, [6.7, 3.0, 5.2, 2.3]]
    client = v2_client(tensor_app)
    assert client.get_model_metadata(TENSOR)["inputs"] == [
        {"name": "input", "datatype": "FP32", "shape": [-1, 4]}
    ]
    from_v2 = client.infer(TENSOR, iris_v2(rows, "FP32")).as_numpy("predict").tolist()
    ours = post(tensor_app, "/predict", {"data": rows}).json()["prediction"]
    scored = scoring_client(tensor_app).invoke(np.asarray(rows, dtype=np.float32))
    assert from_v2 == ours == scored.get_predictions(predictions_format="ndarray").tolist()
    wrong_shape = post(tensor_app, f"/v2/models/{TENSOR}/infer", {"inputs": [
        {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]},
    ]})  # fmt: skip
    assert wrong_shape.status_code == 400
    assert "[-1, 4]" in wrong_shape.json()["error"]


def one_input(**fields: Any) -> dict[str, Any]:
    return {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": IRIS_ROW, **fields}]}


V2_REFUSALS = [
    (one_input(datatype="FP128"), "datatype"),
    (one_input(shape=[1, 5]), "holds 5 values but data has 4"),
    (one_input(shape=[2, 2]), "the model takes [-1, 4]"),
    (one_input(datatype="BOOL"), "BOOL does not take the value 5.1"),
    (one_input(datatype="INT64"), "INT64 does not take the value 5.1"),
    (one_input(datatype="UINT8", data=[1, 2, 3, 300]), "out of range for UINT8"),
    (one_input(shape=[1, -4]), "negative dimension"),
    (one_input(data=[[[[[[[[[5.1]]]]]]]]], shape=[1, 1]), "nested deeper"),
    ({"inputs": []}, "inputs"),
    (
        {"inputs": [one_input()["inputs"][0], {**one_input()["inputs"][0], "name": "second"}]},
        "one input tensor",
    ),
    ({**one_input(), "outputs": [{"name": "probabilities"}]}, "'probabilities' is not an output"),
    ({"id": "x"}, "inputs: Field required"),
]


@pytest.mark.parametrize(("body", "named"), V2_REFUSALS)
def test_every_v2_client_mistake_is_a_400_in_the_protocols_error_form(
    app: ServerProcess, body: dict[str, Any], named: str
) -> None:
    response = post(app, f"/v2/models/{IRIS}/infer", body)
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["error"]
    assert named in response.json()["error"]


def test_v2_errors_outside_inference_keep_the_protocols_form(app: ServerProcess) -> None:
    unknown_model = post(app, "/v2/models/other/infer", v2_body([IRIS_ROW]))
    assert unknown_model.status_code == 404
    assert unknown_model.json() == {"error": f"model 'other' is not served here; this server serves '{IRIS}'"}
    not_json = httpx.post(f"{app.url}/v2/models/{IRIS}/infer", content=b"{nope", timeout=10)
    assert (not_json.status_code, list(not_json.json())) == (400, ["error"])
    unknown_path = httpx.get(f"{app.url}/v2/nowhere", timeout=10)
    assert (unknown_path.status_code, list(unknown_path.json())) == (404, ["error"])
    too_large = httpx.post(f"{app.url}/v2/models/{IRIS}/infer", content=b"x" * (9 * 1024 * 1024), timeout=30)
    assert (too_large.status_code, list(too_large.json())) == (413, ["error"])
    too_many_rows = post(app, f"/v2/models/{IRIS}/infer", v2_body([IRIS_ROW] * 1001))
    assert too_many_rows.status_code == 400
    assert "at most 1000" in too_many_rows.json()["error"]


SCORING_REFUSALS = [
    ({}, "exactly one of"),
    ({"inputs": [IRIS_ROW], "instances": [IRIS_ROW]}, "exactly one of"),
    ({"inputs": [IRIS_ROW], "params": [1]}, "params must be an object"),
    ({"inputs": [[1.0, 2.0]]}, "has 2 values per row"),
    ({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}, "dataframe_split"),
    ({"inputs": 5}, "single value"),
    ({"inputs": []}, "no rows"),
]


@pytest.mark.parametrize(("body", "named"), SCORING_REFUSALS)
def test_every_scoring_client_mistake_is_a_400_as_mlflow_answers_it(
    app: ServerProcess, body: dict[str, Any], named: str
) -> None:
    response = post(app, "/invocations", body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert named in response.json()["message"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("application/xml", "not accepted"),
        ("application/json; charset=latin-1", "UTF-8"),
        ("application/json; format=pandas-split", "format"),
    ],
)
def test_a_body_of_another_type_is_a_415(app: ServerProcess, content_type: str, named: str) -> None:
    response = httpx.post(
        f"{app.url}/invocations",
        content=b'{"inputs": [[1, 2, 3, 4]]}',
        headers={"content-type": content_type},
    )
    assert response.status_code == 415
    assert named in response.json()["message"]


def test_scoring_refuses_malformed_json_and_csv_with_a_400(app: ServerProcess) -> None:
    for content, content_type in ((b"{nope", "application/json"), (b"[1, 2]", "application/json"),
                                  (b"\xff\xfe", "text/csv")):  # fmt: skip
        response = httpx.post(
            f"{app.url}/invocations", content=content, headers={"content-type": content_type}
        )
        assert response.status_code == 400, (content, response.text)
        assert response.json()["error_code"] == "BAD_REQUEST"
