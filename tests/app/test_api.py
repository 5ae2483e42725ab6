"""Every endpoint of a real app process, success and error paths, against the real MLflow server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from serving.config import RoutingMode
from serving.inference.routing import choose_variant
from tests.app.support import IRIS_ROW, TOKEN, predict, reload
from tooling.infra.localstack import MlflowServer, ServerProcess, app_server
from tooling.model import DEFAULT_MODEL_NAME

pytestmark = pytest.mark.slow

SPLIT = 50  # an even split makes a routing mismatch between processes as likely as possible
MAX_ROWS = 50


@pytest.fixture(scope="module")
def apps(
    mlflow: MlflowServer, seeded_versions: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[ServerProcess]]:
    """Two replicas of the app in ab_test mode (best_model @A=v1, @B=v2)."""
    logs = tmp_path_factory.mktemp("api")
    env = {
        **mlflow.serving_env(), "RELOAD_SECRET_TOKEN": TOKEN, "ALIAS_SELECTION_MODE": "ab_test",
        "AB_SPLIT_PERCENT": str(SPLIT), "MAX_BATCH_ROWS": str(MAX_ROWS), "DEFAULT_ALIAS": "B",
    }  # fmt: skip
    with ExitStack() as stack:
        yield [stack.enter_context(app_server(env, logs / f"app-{i}.log")) for i in (1, 2)]


@pytest.fixture(scope="module")
def app(apps: list[ServerProcess]) -> ServerProcess:
    return apps[0]


def test_predict_names_variant_version_mode_and_request_id(app: ServerProcess) -> None:
    response = predict(app, "client-7")
    body = response.json()
    assert response.status_code == 200
    assert body["variant"] == response.headers["x-variant"] in ("A", "B")
    assert body["version"] == response.headers["x-model-version"] == {"A": "1", "B": "2"}[body["variant"]]
    assert body["mode"] == response.headers["x-routing-mode"] == "ab_test"
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["prediction"] in ([0], [1], [2])


def test_a_caller_request_id_is_kept_and_an_unsafe_one_replaced(app: ServerProcess) -> None:
    body = {"data": [IRIS_ROW]}
    kept = httpx.post(f"{app.url}/predict", json=body, headers={"x-request-id": "trace-42"})
    assert kept.headers["x-request-id"] == kept.json()["request_id"] == "trace-42"
    replaced = httpx.post(
        f"{app.url}/predict", json={"data": [IRIS_ROW]}, headers={"x-request-id": "a b;<c>"}
    )
    assert replaced.headers["x-request-id"] != "a b;<c>"
    assert len(replaced.headers["x-request-id"]) == 32


def test_routing_is_the_pure_rule_in_every_replica(apps: list[ServerProcess]) -> None:
    clients = [f"customer-{i}" for i in range(150)]
    expected = [choose_variant(c, RoutingMode.AB_TEST, "B", 10, SPLIT) for c in clients]
    for replica in apps:
        assert [predict(replica, c).headers["x-variant"] for c in clients] == expected
    assert set(expected) == {"A", "B"}


def test_no_client_id_gets_the_live_colour(app: ServerProcess) -> None:
    assert predict(app).json()["variant"] == "B"


def test_explicit_variant_predict(app: ServerProcess) -> None:
    response = predict(app, path="/variant/A/predict")
    assert response.status_code == 200
    assert (response.json()["variant"], response.json()["version"]) == ("A", "1")


def test_unknown_variant_is_404(app: ServerProcess) -> None:
    response = predict(app, path="/variant/C/predict")
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown variant 'C': served variants are A, B"}


WIDE = [[1.0, 2.0, 3.0, 4.0]]
BAD_INPUTS = {
    "empty data": (b'{"data": []}', "data: List should have at least 1 item"),
    "empty row": (b'{"data": [[]]}', "data[0] is empty"),
    "ragged rows": (b'{"data": [[1, 2, 3, 4], [1, 2]]}', "data[1] has 2 values but data[0] has 4"),
    "too few features": (b'{"data": [[1, 2, 3]]}', "each row must have 4 features"),
    "too many features": (b'{"data": [[1, 2, 3, 4, 5]]}', "each row must have 4 features"),
    "a string": (b'{"data": [["a", 1, 2, 3]]}', "data[0][0]: Input should be a valid number"),
    "a numeric string": (b'{"data": [["1.5", 1, 2, 3]]}', "data[0][0]: Input should be a valid number"),
    "a boolean": (b'{"data": [[true, 1, 2, 3]]}', "data[0][0]: Input should be a valid number"),
    "null": (b'{"data": [[null, 1, 2, 3]]}', "data[0][0]: Input should be a valid number"),
    "NaN": (b'{"data": [[1, NaN, 2, 3]]}', "data[0][1]: Input should be a finite number"),
    "Infinity": (b'{"data": [[1, 2, -Infinity, 3]]}', "data[0][2]: Input should be a finite number"),
    "overflow to inf": (b'{"data": [[1, 2, 3, 1e400]]}', "data[0][3]: Input should be a finite number"),
    "row not a list": (b'{"data": [5]}', "data[0]: Input should be a valid array"),
    "data not a list": (b'{"data": {"x": 1}}', "data: Input should be a valid array"),
    "no data": (b'{"rows": [[1, 2, 3, 4]]}', "data: Field required"),
    "not an object": (b"[[1, 2, 3, 4]]", "body: Input should be an object"),
    "not JSON": (b'{"data": [[1, 2', "body: Invalid JSON: EOF while parsing a list"),
    "empty body": (b"", "body: Field required"),
    "too many rows": (b'{"data": [' + b",".join([b"[1, 2, 3, 4]"] * (MAX_ROWS + 1)) + b"]}", "at most 50"),
}


@pytest.mark.parametrize(("body", "problem"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_422_naming_the_problem(app: ServerProcess, body: bytes, problem: str) -> None:
    response = httpx.post(f"{app.url}/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert problem in detail
    assert "\n" not in detail
    assert "Traceback" not in response.text


def test_an_oversized_client_id_is_a_422(app: ServerProcess) -> None:
    response = predict(app, "x" * 300)
    assert response.status_code == 422
    assert "x-client-id" in response.json()["detail"]


def test_health_probes_and_index(app: ServerProcess) -> None:
    health = httpx.get(f"{app.url}/health")
    assert (health.status_code, health.json()) == (
        200, {"status": "ok", "loaded": ["A", "B"], "missing": [], "mode": "ab_test"},
    )  # fmt: skip
    assert httpx.get(f"{app.url}/livez").json() == {"status": "alive"}
    ready = httpx.get(f"{app.url}/readyz")
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "live": "B"})
    index = httpx.get(f"{app.url}/").json()
    assert (index["mode"], index["live"]) == ("ab_test", "B")
    listed = {
        "POST /variant/{alias}/reload",
        "GET /release",
        "POST /release/sync",
        "POST /feedback",
        "GET /experiment",
    }
    assert listed <= set(index["endpoints"])
    assert not any("rollback" in endpoint for endpoint in index["endpoints"])


def test_models_describes_each_loaded_variant(app: ServerProcess, seeded_versions: dict[str, str]) -> None:
    body = httpx.get(f"{app.url}/models").json()
    assert body["model_name"] == DEFAULT_MODEL_NAME
    assert body["mode"] == "ab_test"
    for alias, version in seeded_versions.items():
        described = body["variants"][alias]
        assert (described["alias"], described["version"]) == (alias, version)
        assert described["model_uri"] == f"models:/{DEFAULT_MODEL_NAME}/{version}"
        assert len(described["run_id"]) == 32
        assert described["loaded_at"]
        # Measured at load: a logistic regression on float rows is cheap enough for the event loop.
        cost = described["predict_cost_ms"]
        assert 0 <= cost["fixed"] + cost["per_row"] <= 0.5


def test_metrics_count_requests_by_variant_version_mode_status(app: ServerProcess) -> None:
    predict(app, path="/variant/A/predict")
    text = httpx.get(f"{app.url}/metrics").text
    assert 'serving_requests_total{mode="ab_test",status="200",variant="A",version="1"}' in text
    assert 'serving_model_version{alias="B"} 2.0' in text
    assert 'serving_request_latency_seconds_bucket{le="0.5",variant="A"}' in text
    assert 'serving_reloads_total{alias="A",result="reloaded"} 1.0' in text


def test_reload_requires_the_token(app: ServerProcess) -> None:
    missing = reload(app, "B", token=None)
    assert (missing.status_code, missing.json()) == (401, {"detail": "x-token header is required"})
    wrong = reload(app, "B", token=TOKEN + "x")
    assert (wrong.status_code, wrong.json()) == (403, {"detail": "x-token is not valid"})
    assert TOKEN not in wrong.text
    for token, status in ((None, 401), ("nope", 403)):
        headers = {"x-token": token} if token else {}
        assert httpx.post(f"{app.url}/release/sync", headers=headers).status_code == status


def test_reload_of_an_alias_outside_the_served_set_is_404(app: ServerProcess) -> None:
    response = reload(app, "C")
    assert response.status_code == 404
    assert "served variants are A, B" in response.json()["detail"]


def test_reload_of_the_served_version_is_a_no_op(app: ServerProcess) -> None:
    response = reload(app, "A")
    assert response.status_code == 200
    assert response.json() == {
        "status": "unchanged", "variant": "A", "version": "1", "previous_version": "1",
        "run_id": httpx.get(f"{app.url}/models").json()["variants"]["A"]["run_id"],
    }  # fmt: skip


def test_the_per_pod_rollback_route_is_gone(app: ServerProcess) -> None:
    """Rollback is a fleet operation (the release controller's ``make rollback``), never one pod's memory."""
    response = reload(app, "B", action="rollback")
    assert response.status_code in (404, 405)


def test_unknown_route_and_method_are_4xx(app: ServerProcess) -> None:
    assert httpx.get(f"{app.url}/nope").status_code == 404
    assert httpx.get(f"{app.url}/predict").status_code == 405
