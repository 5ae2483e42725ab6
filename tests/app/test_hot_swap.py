"""Reload and the registry watcher on a real app process, against the real MLflow server."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.app.conftest import StartApp
from tests.app.support import (
    IRIS_ROW,
    TcpRelay,
    models,
    predict,
    register_broken_version,
    register_exploding_version,
    reload,
    wait_for,
)
from tooling.infra.localstack import ServerProcess
from tooling.infra.registry_seed import SERVE_MODELS_FROM_CODE, point_alias, register_version, seed_variants

pytestmark = pytest.mark.slow

MODEL = "hot_swap_model"


@pytest.fixture(scope="module")
def versions(mlflow: ServerProcess) -> dict[str, str]:
    """A third good version beside @A (v1) and @B (v2), for the aliases to move onto."""
    seeded = seed_variants(mlflow.url, MODEL)
    return {**seeded, "new": register_version(mlflow.url, MODEL, c=0.3).version}


@pytest.fixture
def app(start_app: StartApp, mlflow: ServerProcess, versions: dict[str, str]) -> Iterator[ServerProcess]:
    point_alias(mlflow.url, MODEL, "B", versions["B"])
    with start_app(MODEL_NAME=MODEL, ALIAS_SELECTION_MODE="canary", CANARY_PERCENT="50") as app:
        yield app


def test_reload_swaps_to_where_the_alias_moved(
    app: ServerProcess, mlflow: ServerProcess, versions: dict[str, str]
) -> None:
    old, new = versions["B"], versions["new"]
    point_alias(mlflow.url, MODEL, "B", new)
    swapped = reload(app, "B")
    assert swapped.status_code == 200
    body = swapped.json()
    assert (body["status"], body["variant"], body["version"], body["previous_version"]) == (
        "reloaded",
        "B",
        new,
        old,
    )
    assert body["run_id"] == httpx.get(f"{app.url}/models").json()["variants"]["B"]["run_id"]
    assert models(app) == {"A": versions["A"], "B": new}
    assert predict(app, path="/variant/B/predict").json()["version"] == new

    assert reload(app, "B").json()["status"] == "unchanged"

    point_alias(mlflow.url, MODEL, "B", old)  # moving the alias back is how a variant goes back
    assert reload(app, "B").json()["status"] == "reloaded"
    assert models(app)["B"] == old


def test_a_version_whose_artifact_is_broken_never_replaces_the_served_one(
    app: ServerProcess, mlflow: ServerProcess, versions: dict[str, str]
) -> None:
    point_alias(mlflow.url, MODEL, "B", register_broken_version(mlflow.url, MODEL))
    response = reload(app, "B")
    assert response.status_code == 502
    assert "failed to load or smoke-predict" in response.json()["detail"]
    assert "Traceback" not in response.text
    assert models(app)["B"] == versions["B"]
    assert predict(app, path="/variant/B/predict").json()["version"] == versions["B"]
    assert httpx.get(f"{app.url}/health").json()["status"] == "ok"


def test_a_version_that_fails_its_smoke_prediction_is_refused(
    start_app: StartApp, mlflow: ServerProcess, versions: dict[str, str], tmp_path: Path
) -> None:
    point_alias(mlflow.url, MODEL, "B", versions["B"])
    # The exploding model is a model from code: this app must be allowed to load it to reach its smoke test.
    with start_app(MODEL_NAME=MODEL, **SERVE_MODELS_FROM_CODE) as app:
        point_alias(mlflow.url, MODEL, "B", register_exploding_version(mlflow.url, MODEL, tmp_path))
        response = reload(app, "B")
        assert response.status_code == 502
        assert "smoke-predict" in response.json()["detail"]
        assert predict(app, path="/variant/B/predict").json()["version"] == versions["B"]


def test_twenty_concurrent_reloads_swap_exactly_once(
    app: ServerProcess, mlflow: ServerProcess, versions: dict[str, str]
) -> None:
    point_alias(mlflow.url, MODEL, "B", versions["new"])
    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(lambda _: reload(app, "B"), range(20)))
    assert [r.status_code for r in replies] == [200] * 20
    assert Counter(r.json()["status"] for r in replies) == {"reloaded": 1, "unchanged": 19}
    assert {r.json()["version"] for r in replies} == {versions["new"]}
    assert models(app)["B"] == versions["new"]


def test_hot_swap_under_load_fails_no_request(
    app: ServerProcess, mlflow: ServerProcess, versions: dict[str, str]
) -> None:
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    served: Counter[str] = Counter()

    def hammer(worker: int) -> None:
        with httpx.Client(base_url=app.url, timeout=30) as client:
            for i in range(3000):  # bounded even if the swaps hang
                if stop.is_set():
                    return
                headers = {"x-client-id": f"load-{worker}-{i}"}
                response = client.post("/predict", json={"data": [IRIS_ROW]}, headers=headers)
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    served[f"{response.headers['x-variant']}{response.headers['x-model-version']}"] += 1

    with ThreadPoolExecutor(max_workers=4) as pool:
        workers = [pool.submit(hammer, n) for n in range(4)]
        for target in (versions["new"], versions["B"], versions["new"]):
            point_alias(mlflow.url, MODEL, "B", target)
            assert reload(app, "B").json()["status"] == "reloaded"
        stop.set()
        for worker in workers:
            worker.result()
    assert set(statuses) == {200}, statuses
    assert served[f"B{versions['B']}"] > 0
    assert served[f"B{versions['new']}"] > 0


def test_mlflow_unreachable_during_reload_keeps_the_old_model(
    start_app: StartApp, mlflow: ServerProcess, versions: dict[str, str]
) -> None:
    point_alias(mlflow.url, MODEL, "B", versions["B"])
    relay = TcpRelay(int(mlflow.url.rsplit(":", 1)[1]))
    with start_app(MODEL_NAME=MODEL, MLFLOW_TRACKING_URI=relay.url) as app:
        relay.cut()
        point_alias(mlflow.url, MODEL, "B", versions["new"])
        response = reload(app, "B")
        assert response.status_code == 503
        assert response.json()["detail"].startswith("model registry unreachable")
        assert relay.url not in response.text
        assert predict(app, path="/variant/B/predict").json()["version"] == versions["B"]


def test_the_watcher_follows_the_registry_and_nothing_undoes_an_alias_moved_back(
    start_app: StartApp, mlflow: ServerProcess, versions: dict[str, str]
) -> None:
    point_alias(mlflow.url, MODEL, "A", versions["A"])
    with start_app(MODEL_NAME=MODEL, REGISTRY_POLL_SECONDS="0.3") as app:
        point_alias(mlflow.url, MODEL, "A", versions["new"])
        assert wait_for(lambda: models(app)["A"] == versions["new"], timeout=60)
        point_alias(mlflow.url, MODEL, "A", versions["A"])  # a fleet rollback moves the alias back
        assert wait_for(lambda: models(app)["A"] == versions["A"], timeout=60)
        assert reload(app, "A").json()["status"] == "unchanged"  # and later polls keep it there
