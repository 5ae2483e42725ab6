"""The prediction log, feedback and GET /experiment on real app processes, against a real SQLite file and a
real PostgreSQL server (started by the tests on loopback), and the real MLflow server."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from sklearn.datasets import load_iris

from tests.app.conftest import StartApp
from tests.app.support import IRIS_ROW, metric, register_slow_version, wait_for
from tooling.infra.localstack import ServerProcess
from tooling.infra.postgres import PostgresServer
from tooling.infra.registry_seed import (
    SERVE_MODELS_FROM_CODE,
    point_alias,
    register_faulty_version,
    seed_variants,
)

pytestmark = pytest.mark.slow

MODEL = "outcomes_model"


@dataclass(frozen=True)
class Database:
    kind: str
    url: str

    def rows(self, where: str = "", **params: Any) -> list[Any]:
        engine = sqlalchemy.create_engine(self.url)
        try:
            with engine.connect() as connection:
                query = "SELECT request_id, shadow, variant, label FROM predictions"
                return list(connection.execute(sqlalchemy.text(query + where), params))
        finally:
            engine.dispose()

    def logged(self, request_id: str) -> bool:
        return bool(self.rows(" WHERE request_id = :id", id=request_id))


@pytest.fixture(scope="module")
def versions(mlflow: ServerProcess) -> dict[str, str]:
    return seed_variants(mlflow.url, MODEL)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database("sqlite", f"sqlite:///{tmp_path / 'shared' / 'predictions.db'}")
    server: PostgresServer = request.getfixturevalue("postgres")
    return Database("postgres", server.url)


def experiment_env(database: Database, **env: str) -> dict[str, str]:
    """An A/B test of the module's model logging to ``database`` under an experiment of its own."""
    return {
        "MODEL_NAME": MODEL, "ALIAS_SELECTION_MODE": "ab_test", "AB_SPLIT_PERCENT": "50",
        "PREDICTION_LOG_URL": database.url, "EXPERIMENT_ID": f"exp-{uuid.uuid4().hex[:12]}", **env,
    }  # fmt: skip


def post_predict(app: ServerProcess, rows: list[list[float]], client_id: str | None = None) -> dict[str, Any]:
    headers = {"x-client-id": client_id} if client_id else {}
    response = httpx.post(f"{app.url}/predict", json={"data": rows}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def feedback(app: ServerProcess, body: Any) -> httpx.Response:
    return httpx.post(f"{app.url}/feedback", json=body, timeout=30)


def test_feedback_records_a_label_once_and_names_each_refusal(
    start_app: StartApp, versions: dict[str, str], database: Database
) -> None:
    with start_app(**experiment_env(database, FEEDBACK_MAX_ITEMS="4")) as app:
        served = post_predict(app, [IRIS_ROW], "client-1")
        request_id, predicted = served["request_id"], served["prediction"][0]
        other = (predicted + 1) % 3

        # Straight after the prediction: this replica writes its own queued record before looking it up.
        first = feedback(app, {"request_id": request_id, "label": predicted})
        assert (first.status_code, first.json()["status"], first.json()["accepted"]) == (200, "recorded", 1)
        again = feedback(app, {"request_id": request_id, "label": float(predicted)})  # 2.0 is the class 2
        assert (again.status_code, again.json()["status"]) == (200, "unchanged")
        conflict = feedback(app, {"request_id": request_id, "label": other})
        assert conflict.status_code == 409
        assert request_id in conflict.json()["detail"]
        unknown = feedback(app, {"request_id": "never-served", "label": 1})
        assert unknown.status_code == 404
        assert "never-served" in unknown.json()["detail"]

        two_rows = post_predict(app, [IRIS_ROW, IRIS_ROW], "client-2")["request_id"]
        scalar_for_two = feedback(app, {"request_id": two_rows, "label": 1})
        assert scalar_for_two.status_code == 422
        assert "2 rows" in scalar_for_two.json()["detail"]

        fresh = post_predict(app, [IRIS_ROW], "client-3")
        batch = feedback(
            app,
            [
                {"request_id": fresh["request_id"], "label": fresh["prediction"][0]},
                {"request_id": "missing-1", "label": 0},
                {"request_id": request_id, "label": other},
                {"request_id": two_rows, "label": [1, 2]},
            ],
        )
        assert batch.status_code == 200
        assert batch.json()["accepted"] == 2
        statuses = [item["status"] for item in batch.json()["results"]]
        assert statuses == ["recorded", "unknown", "conflict", "recorded"]

        too_many = feedback(app, [{"request_id": request_id, "label": 1}] * 5)
        assert too_many.status_code == 422
        assert "1 to 4 items" in too_many.json()["detail"]
        for bad in ({"request_id": "a b", "label": 1}, {"request_id": request_id}, {"request_id": request_id,
                    "label": {"nested": 1}}, {"request_id": request_id, "label": "NaN" * 100}):  # fmt: skip
            refused = feedback(app, bad)
            assert refused.status_code == 422, bad
            assert "Traceback" not in refused.text

        served_by = served["variant"], served["version"]
        assert metric(app, "serving_labels_total", variant=served_by[0], version=served_by[1]) >= 1
        assert metric(app, "serving_feedback_errors_total", reason="conflict") == 2
        assert metric(app, "serving_feedback_errors_total", reason="unknown") == 2
        assert metric(app, "serving_feedback_errors_total", reason="invalid") == 1


def test_replicas_share_the_log_and_it_survives_a_restart(
    start_app: StartApp, versions: dict[str, str], database: Database
) -> None:
    env = experiment_env(database)
    with ExitStack() as stack:
        first, second = (stack.enter_context(start_app(**env)) for _ in range(2))
        served = [post_predict(first, [IRIS_ROW], f"client-{index}") for index in range(6)]
        ids = [body["request_id"] for body in served]
        assert wait_for(lambda: all(database.logged(request_id) for request_id in ids))
        # The other replica grades a prediction it never saw.
        response = feedback(second, {"request_id": ids[0], "label": served[0]["prediction"][0]})
        assert (response.status_code, response.json()["status"]) == (200, "recorded")
    with start_app(**env) as restarted:
        for body in served[1:]:
            later = feedback(restarted, {"request_id": body["request_id"], "label": body["prediction"][0]})
            assert later.status_code == 200, later.text
        report = httpx.get(f"{restarted.url}/experiment", timeout=30).json()
    variants = report["variants"]
    assert report["experiment_id"] == env["EXPERIMENT_ID"]
    assert variants["A"]["predictions"] + variants["B"]["predictions"] == 6
    assert variants["A"]["labelled"] + variants["B"]["labelled"] == 6
    for variant in ("A", "B"):
        if variants[variant]["labelled"]:
            assert variants[variant]["value"] == 1.0  # every label was the prediction itself


def test_experiment_reports_quality_latency_verdict_and_sample_ratio(
    start_app: StartApp, versions: dict[str, str], database: Database
) -> None:
    features, labels = load_iris(return_X_y=True)
    env = experiment_env(database, EXPERIMENT_ID=f"report-{database.kind}")
    with start_app(**env) as app:
        for index in range(150):
            served = post_predict(app, [features[index].tolist()], f"user-{index}")
            label = int(labels[index])
            assert feedback(app, {"request_id": served["request_id"], "label": label}).status_code == 200
        report = httpx.get(f"{app.url}/experiment", timeout=30).json()
        future = httpx.get(f"{app.url}/experiment", params={"since": "2999-01-01T00:00:00Z"}, timeout=30)
        naive = httpx.get(f"{app.url}/experiment", params={"since": "2026-01-01T00:00:00"}, timeout=30)

    assert (report["task"], report["metric"], report["alpha"]) == ("classification", "accuracy", 0.05)
    assert report["started_at"] is not None
    for name, variant in report["variants"].items():
        assert variant["versions"] == [versions[name]]
        assert variant["predictions"] == variant["labelled"] > 30
        assert 0.8 <= variant["value"] <= 1.0  # two real iris classifiers, graded on iris' own labels
        assert variant["interval"]["lower"] <= variant["value"] <= variant["interval"]["upper"]
        assert variant["p99_ms"] > 0
    assert report["verdict"]["result"] == "inconclusive"  # two good models, 150 labels: nothing proven
    assert report["verdict"]["labels_needed"] is None or report["verdict"]["labels_needed"] > 0
    ratio = report["sample_ratio"]
    assert ratio["assigned"]["A"] + ratio["assigned"]["B"] == 150
    assert (ratio["expected_b_percent"], ratio["mismatch"], ratio["fallback_served"]) == (50.0, False, 0)

    assert future.status_code == 200
    assert future.json()["variants"]["A"]["predictions"] == future.json()["variants"]["B"]["predictions"] == 0
    assert future.json()["sample_ratio"] is None
    assert naive.status_code == 422
    assert "time zone" in naive.json()["detail"]


def test_a_clean_shutdown_writes_every_queued_record(
    start_app: StartApp, versions: dict[str, str], database: Database
) -> None:
    # A long linger and a large batch keep every record in the writer until the shutdown flushes it.
    env = experiment_env(database, PREDICTION_LOG_FLUSH_SECONDS="8", PREDICTION_LOG_BATCH_SIZE="1000")
    with start_app(**env) as app:
        ids = [post_predict(app, [IRIS_ROW], f"client-{index}")["request_id"] for index in range(25)]
    logged = {row.request_id for row in database.rows(" WHERE experiment_id = :e", e=env["EXPERIMENT_ID"])}
    assert logged == set(ids)


def test_predictions_do_not_depend_on_the_database(
    start_app: StartApp, versions: dict[str, str], postgres: PostgresServer
) -> None:
    database = Database("postgres", postgres.url)
    env = experiment_env(database, PREDICTION_LOG_QUEUE_SIZE="5", PREDICTION_LOG_BATCH_SIZE="2")
    postgres.stop()
    try:
        with start_app(**env) as app:  # starts, and serves, with the database away
            during = [post_predict(app, [IRIS_ROW], f"client-{index}") for index in range(30)]
            assert all(body["variant"] in ("A", "B") for body in during)
            refused = feedback(app, {"request_id": during[0]["request_id"], "label": 0})
            assert refused.status_code == 503
            assert "database" in refused.json()["detail"]
            assert httpx.get(f"{app.url}/experiment", timeout=30).status_code == 503
            # At most the queue (5) and the batch held for retrying (2) wait for the database.
            assert metric(app, "serving_prediction_log_dropped_total") >= 30 - 5 - 2

            postgres.start()
            # The writer migrates, then writes what waited in its queue; then there is room again.
            assert wait_for(lambda: metric(app, "serving_prediction_log_written_total") >= 5, timeout=60)
            after = post_predict(app, [IRIS_ROW], "client-after")
            assert wait_for(lambda: database.logged(after["request_id"]), timeout=60)
            graded = feedback(app, {"request_id": after["request_id"], "label": after["prediction"][0]})
            assert graded.status_code == 200
            assert postgres.password not in app.log_path.read_text()
    finally:
        if postgres.pid is None:
            postgres.start()


def shadow_env(tmp_path: Path, **env: str) -> dict[str, str]:
    database = Database("sqlite", f"sqlite:///{tmp_path / 'shadow.db'}")
    return experiment_env(database, ALIAS_SELECTION_MODE="shadow", DEFAULT_ALIAS="A", **env)


def settle(app: ServerProcess, sent: int) -> Callable[[], bool]:
    """True once every request's shadow scoring has ended one way or another."""
    return lambda: metric(app, "serving_shadow_total") >= sent


def test_a_slow_shadow_never_changes_the_answer_and_is_logged_as_shadow(
    start_app: StartApp, mlflow: ServerProcess, versions: dict[str, str], tmp_path: Path
) -> None:
    name = "shadow_slow_model"
    good = seed_variants(mlflow.url, name)["A"]
    point_alias(mlflow.url, name, "B", register_slow_version(mlflow.url, name, tmp_path))
    # The slow shadow is a model from code: this app is allowed to load it.
    env = shadow_env(tmp_path, MODEL_NAME=name, SHADOW_QUEUE_SIZE="2", **SERVE_MODELS_FROM_CODE)
    with start_app(**env) as app:
        served = [post_predict(app, [IRIS_ROW], f"client-{index}") for index in range(20)]
        assert {(body["variant"], body["version"]) for body in served} == {("A", good)}
        assert wait_for(settle(app, 20))
        scored = metric(app, "serving_shadow_total", result="scored")
        assert scored + metric(app, "serving_shadow_total", result="dropped") == 20
        assert scored >= 1
        ids = {body["request_id"] for body in served}
        database = Database("sqlite", env["PREDICTION_LOG_URL"])
        assert wait_for(lambda: len(database.rows(" WHERE shadow = :s", s=True)) == scored)
        for body in served:  # feedback grades the live answer and, where it was scored, the shadow's
            assert feedback(
                app, {"request_id": body["request_id"], "label": body["prediction"][0]}
            ).is_success
        report = httpx.get(f"{app.url}/experiment", timeout=30).json()
    shadow = report["shadow"]
    assert (shadow["variant"], shadow["predictions"], shadow["labelled"]) == ("B", scored, scored)
    assert shadow["agreement"] == 1.0  # the live model also answers class 0 for this setosa row
    assert shadow["model_ms_difference"]["p50"] > 50  # the shadow sleeps 100 ms per call
    assert report["variants"]["A"]["predictions"] == 20
    assert report["variants"]["B"]["predictions"] == 0
    rows = database.rows(" WHERE shadow = :s", s=True)
    assert {row.request_id for row in rows} <= ids
    assert all(row.variant == "B" and row.label == "[0]" for row in rows)


def test_a_failing_shadow_is_counted_and_never_reaches_the_client(
    start_app: StartApp, mlflow: ServerProcess, versions: dict[str, str], tmp_path: Path
) -> None:
    name = "shadow_faulty_model"
    good = seed_variants(mlflow.url, name)["A"]
    point_alias(mlflow.url, name, "B", register_faulty_version(mlflow.url, name).version)
    long_petals = [6.3, 3.3, 6.0, 2.5]  # the faulty candidate raises on petal length above 4.5 cm
    # The faulty candidate is a model from code: this app is allowed to load it.
    with start_app(**shadow_env(tmp_path, MODEL_NAME=name, **SERVE_MODELS_FROM_CODE)) as app:
        served = [post_predict(app, [long_petals], f"client-{index}") for index in range(10)]
        assert {(body["variant"], body["version"], body["prediction"][0]) for body in served} == {
            ("A", good, 2)
        }
        assert wait_for(settle(app, 10))
        failed = metric(app, "serving_shadow_total", result="failed")
        assert failed + metric(app, "serving_shadow_total", result="dropped") == 10
        assert failed >= 1
        assert metric(app, "serving_shadow_total", result="scored") == 0
