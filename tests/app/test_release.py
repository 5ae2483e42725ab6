"""The release state on real app processes against the real MLflow server: GET /release, POST /release/sync,
the watcher, a restart, an invalid state, a re-created registered model, and the fallback metric."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from serving.inference.routing import bucket
from tests.app.conftest import StartApp
from tests.app.support import TOKEN, models, predict, register_broken_version, wait_for
from tooling.infra.localstack import ServerProcess
from tooling.infra.registry_seed import point_alias, register_version, seed_variants

pytestmark = pytest.mark.slow

MODEL = "release_model"
TAG = "serving.release"  # the contract with the release controller, spelled out on purpose
SETTINGS = {"live": "settings", "canary_percent": "settings", "ab_split_percent": "settings",
            "experiment_id": "settings"}  # fmt: skip
CANARY = {"MODEL_NAME": MODEL, "ALIAS_SELECTION_MODE": "canary", "CANARY_PERCENT": "10",
          "AB_SPLIT_PERCENT": "90", "DEFAULT_ALIAS": "A", "REGISTRY_POLL_SECONDS": "0"}  # fmt: skip
CLIENTS = [f"client-{i}" for i in range(40)]


def client(mlflow: ServerProcess) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow.url, registry_uri=mlflow.url)


def write_state(mlflow: ServerProcess, model: str = MODEL, **state: Any) -> None:
    client(mlflow).set_registered_model_tag(model, TAG, json.dumps({"schema": 1, **state}))


def release(app: ServerProcess) -> dict[str, Any]:
    response = httpx.get(f"{app.url}/release", timeout=10)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def sync(app: ServerProcess) -> httpx.Response:
    return httpx.post(f"{app.url}/release/sync", headers={"x-token": TOKEN}, timeout=60)


def routed(app: ServerProcess) -> set[str]:
    return {predict(app, client_id).headers["x-variant"] for client_id in CLIENTS}


@pytest.fixture(scope="module")
def versions(mlflow: ServerProcess) -> dict[str, str]:
    """@A (v1), @B (v2), and a third version for @B to move onto."""
    seeded = seed_variants(mlflow.url, MODEL)
    return {**seeded, "new": register_version(mlflow.url, MODEL, c=0.3).version}


@pytest.fixture(autouse=True)
def no_release(mlflow: ServerProcess, versions: dict[str, str]) -> Iterator[None]:
    """Every test starts and ends with no release state and the aliases where the seed put them."""

    def reset() -> None:
        with contextlib.suppress(MlflowException):  # no tag to delete
            client(mlflow).delete_registered_model_tag(MODEL, TAG)
        for alias in ("A", "B"):
            point_alias(mlflow.url, MODEL, alias, versions[alias])

    reset()
    yield
    reset()


def test_without_a_release_state_every_value_comes_from_the_settings(
    start_app: StartApp, versions: dict[str, str]
) -> None:
    with start_app(**CANARY) as app:
        assert release(app) == {
            "model_name": MODEL, "mode": "canary", "live": "A", "canary_percent": 10, "ab_split_percent": 90,
            "experiment_id": None, "release_id": None, "phase": None, "candidate": None,
            "versions": {"A": versions["A"], "B": versions["B"]}, "sources": SETTINGS, "state_error": None,
        }  # fmt: skip


def test_a_written_state_takes_effect_on_sync(
    start_app: StartApp, mlflow: ServerProcess, versions: dict[str, str]
) -> None:
    with start_app(**CANARY) as app:
        assert routed(app) == {"A", "B"}
        write_state(
            mlflow, release_id="r-1", strategy="canary", phase="releasing", alias="B",
            candidate=versions["B"], canary_percent=100, experiment_id="r-1",
            before={"A": versions["A"], "B": versions["B"], "live": "A", "canary_percent": 10},
        )  # fmt: skip
        assert release(app)["canary_percent"] == 10  # nothing polls: the state waits for a sync

        response = sync(app)
        assert response.status_code == 200
        body = response.json()
        assert body == release(app)
        assert (body["canary_percent"], body["experiment_id"], body["release_id"], body["phase"]) == (
            100, "r-1", "r-1", "releasing",
        )  # fmt: skip
        assert body["candidate"] == versions["B"]
        from_state = dict.fromkeys(("canary_percent", "experiment_id"), "release_state")
        assert body["sources"] == {**SETTINGS, **from_state}
        assert routed(app) == {"B"}

        write_state(mlflow, release_id="r-1", phase="rolled_back", canary_percent=0)
        assert sync(app).status_code == 200
        assert routed(app) == {"A"}


def test_an_invalid_state_keeps_the_previous_one_whole_and_says_why(
    start_app: StartApp, mlflow: ServerProcess
) -> None:
    with start_app(**CANARY) as app:
        write_state(mlflow, release_id="r-2", canary_percent=100, live="B")
        assert sync(app).status_code == 200
        before = release(app)

        for invalid in ({"live": "C", "canary_percent": 0}, {"canary_percent": 0, "ab_split_percent": 101}):
            write_state(mlflow, release_id="r-3", **invalid)
            response = sync(app)
            assert response.status_code == 200
            body = release(app)
            assert body["state_error"].startswith("release state invalid, routing unchanged: ")
            assert {**body, "state_error": None} == before  # nothing of the invalid state applied
            assert routed(app) == {"B"}

        client(mlflow).set_registered_model_tag(MODEL, TAG, "{not json")
        assert sync(app).status_code == 200
        assert "Invalid JSON" in release(app)["state_error"]

        client(mlflow).delete_registered_model_tag(MODEL, TAG)
        assert sync(app).status_code == 200
        body = release(app)
        assert (body["canary_percent"], body["live"], body["sources"], body["state_error"]) == (
            10, "A", SETTINGS, None,
        )  # fmt: skip


def test_a_restarted_replica_routes_per_the_state_from_its_first_request(
    start_app: StartApp, mlflow: ServerProcess
) -> None:
    write_state(mlflow, release_id="r-4", strategy="blue_green", phase="rolled_back", live="B")
    with start_app(**{**CANARY, "ALIAS_SELECTION_MODE": "blue_green"}) as app:
        assert predict(app, "first-client").headers["x-variant"] == "B"
        assert httpx.get(f"{app.url}/readyz").json() == {"ready": True, "live": "B"}
        body = release(app)
        assert (body["live"], body["sources"]["live"], body["phase"]) == ("B", "release_state", "rolled_back")


def test_the_watcher_converges_on_a_state_change_and_an_alias_move(
    start_app: StartApp, mlflow: ServerProcess, versions: dict[str, str]
) -> None:
    with start_app(**{**CANARY, "REGISTRY_POLL_SECONDS": "0.3"}) as app:
        write_state(mlflow, release_id="r-5", canary_percent=50)
        assert wait_for(lambda: release(app)["canary_percent"] == 50, timeout=60)
        point_alias(mlflow.url, MODEL, "B", versions["new"])
        assert wait_for(lambda: release(app)["versions"]["B"] == versions["new"], timeout=60)
        assert predict(app, path="/variant/B/predict").json()["version"] == versions["new"]
        write_state(mlflow, release_id="r-5", live="B")  # percents back to the settings, live from the state
        assert wait_for(lambda: release(app)["live"] == "B", timeout=60)
        assert release(app)["sources"] == {**SETTINGS, "live": "release_state"}


def test_concurrent_syncs_swap_once_and_a_failing_alias_is_named(
    start_app: StartApp, mlflow: ServerProcess, versions: dict[str, str]
) -> None:
    with start_app(**CANARY) as app:
        point_alias(mlflow.url, MODEL, "B", versions["new"])
        with ThreadPoolExecutor(max_workers=10) as pool:
            replies = list(pool.map(lambda _: sync(app), range(10)))
        assert [reply.status_code for reply in replies] == [200] * 10
        assert models(app) == {"A": versions["A"], "B": versions["new"]}
        metrics = httpx.get(f"{app.url}/metrics").text
        assert 'serving_reloads_total{alias="B",result="reloaded"} 2.0' in metrics  # start-up, then once

        point_alias(mlflow.url, MODEL, "B", register_broken_version(mlflow.url, MODEL))
        response = sync(app)
        assert response.status_code == 502
        assert response.json()["detail"].startswith("@B: version ")
        assert release(app)["versions"]["B"] == versions["new"]  # the old model keeps serving


def test_a_re_created_registered_model_with_the_same_version_number_is_reloaded(
    start_app: StartApp, mlflow: ServerProcess
) -> None:
    model = "release_recreated_model"
    seed_variants(mlflow.url, model)
    with start_app(**{**CANARY, "MODEL_NAME": model}) as app:
        before = httpx.get(f"{app.url}/models").json()["variants"]
        client(mlflow).delete_registered_model(model)
        again = seed_variants(mlflow.url, model)
        assert again == {alias: info["version"] for alias, info in before.items()}  # same numbers

        assert sync(app).status_code == 200
        after = httpx.get(f"{app.url}/models").json()["variants"]
        for alias in ("A", "B"):
            assert after[alias]["version"] == before[alias]["version"]
            assert after[alias]["run_id"] != before[alias]["run_id"]
        assert sync(app).status_code == 200  # and then it is the served model: nothing more to do
        assert httpx.get(f"{app.url}/models").json()["variants"] == after


def test_a_routed_request_that_falls_back_is_counted(start_app: StartApp, mlflow: ServerProcess) -> None:
    model = "release_fallback_model"
    point_alias(mlflow.url, model, "A", register_version(mlflow.url, model).version)
    settings = {**CANARY, "MODEL_NAME": model, "CANARY_PERCENT": "50", "STARTUP_LOAD_ATTEMPTS": "1"}
    with start_app(**settings) as app:
        wants_b = [c for c in CLIENTS if bucket(c) < 50][:3]
        for client_id in wants_b:
            assert predict(app, client_id).headers["x-variant-fallback"] == "B->A"
        metrics = httpx.get(f"{app.url}/metrics").text
        assert f'serving_fallbacks_total{{served="A",wanted="B"}} {len(wants_b)}.0' in metrics
        assert release(app)["versions"]["B"] is None

        response = sync(app)  # @B is still not set: the alias's own status, the detail names it
        assert response.status_code == 503
        assert response.json()["detail"] == f"@B: alias @B of model {model} is not set in the registry"
