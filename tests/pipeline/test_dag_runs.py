"""The real DAG under ``airflow dags test`` with a real MLflow server, app replicas and Slack receiver.

Nothing is mocked: the three scenarios share the session's MLflow server, one migrated Airflow home and the
two replicas, and each starts from whatever the registry and the replicas agree on at that moment.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from tests.pipeline.support import OTHER_TOKEN, RELOAD_TOKEN, ServingPool
from tests.webhook import WebhookReceiver
from tooling.infra.airflow import (
    AirflowHome,
    PipelineStageError,
    dag_environment,
    run_dag,
    run_pipeline_stage,
    served_versions,
)

# Migration starts first, in the background, so it overlaps the servers' start-up.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_migration")]


def registry(pool: ServingPool) -> MlflowClient:
    return MlflowClient(tracking_uri=pool.mlflow_url, registry_uri=pool.mlflow_url)


def alias_version(pool: ServingPool, alias: str = "B") -> str:
    return str(registry(pool).get_model_version_by_alias(pool.model_name, alias).version)


def version_count(pool: ServingPool) -> int:
    return len(registry(pool).search_model_versions(f"name='{pool.model_name}'"))


def run(
    pool: ServingPool,
    home: AirflowHome,
    slack: WebhookReceiver,
    log_path: Path,
    replica_urls: list[str],
    **variables: str,
) -> int:
    env = dag_environment(
        pool.mlflow_url,
        replica_urls,
        RELOAD_TOKEN,
        model_name=pool.model_name,
        alias="B",
        slack_webhook_url=slack.url,
        variables=variables,
    )
    return run_dag(home, env, log_path)


def test_happy_path_every_replica_serves_the_new_version(
    serving_pool: ServingPool, airflow_home: AirflowHome, fresh_slack: WebhookReceiver, tmp_path: Path
) -> None:
    previous = alias_version(serving_pool)

    # Through the demo's own stage, so `make demo` runs exactly what is tested here.
    try:
        change = run_pipeline_stage(
            serving_pool.mlflow_url,
            serving_pool.urls,
            RELOAD_TOKEN,
            tmp_path,
            model_name=serving_pool.model_name,
            alias="B",
            slack_webhook_url=fresh_slack.url,
            airflow_home=airflow_home.path,
        )
    except PipelineStageError as error:
        pytest.fail(f"{error}\n{(tmp_path / 'airflow-dag-run.log').read_text()[-3000:]}")

    log = (tmp_path / "airflow-dag-run.log").read_text()
    new = alias_version(serving_pool)
    assert int(new) > int(previous)
    assert all(f"{url}: v{previous} -> v{new}" in change for url in serving_pool.urls), change
    assert served_versions(serving_pool.urls, "B") == dict.fromkeys(serving_pool.urls, new)
    registered = registry(serving_pool).get_model_version(serving_pool.model_name, new)
    for replica in serving_pool.replicas:
        served = replica_models(replica.url)["variants"]["B"]
        assert (served["version"], served["run_id"]) == (new, registered.run_id)
    expected_order = [
        ":package: registered",
        "is READY",
        ":arrow_right:",
        ":arrows_counterclockwise:",
        "verified",
    ]
    assert len(fresh_slack.messages) == len(expected_order), fresh_slack.messages
    for message, marker in zip(fresh_slack.messages, expected_order, strict=True):
        assert marker in message
    assert f"v{previous} -> v{new}" in fresh_slack.messages[2]
    assert RELOAD_TOKEN not in log
    assert fresh_slack.url not in log


def test_below_threshold_registers_nothing_and_notifies(
    serving_pool: ServingPool, airflow_home: AirflowHome, fresh_slack: WebhookReceiver, tmp_path: Path
) -> None:
    previous, versions = alias_version(serving_pool), version_count(serving_pool)

    # C at its lower bound underfits iris (accuracy ~0.71), far below the highest legal threshold.
    code = run(
        serving_pool,
        airflow_home,
        fresh_slack,
        tmp_path / "run.log",
        serving_pool.urls,
        logreg_C="0.001",
        accuracy_threshold="0.99",
    )

    assert code == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert (alias_version(serving_pool), version_count(serving_pool)) == (previous, versions)
    assert served_versions(serving_pool.urls, "B") == dict.fromkeys(serving_pool.urls, previous)
    assert len(fresh_slack.messages) == 1, fresh_slack.messages
    assert "below the threshold 0.99" in fresh_slack.messages[0]
    assert "nothing registered" in fresh_slack.messages[0]


def test_refused_reload_rolls_the_alias_back_on_every_replica(
    serving_pool: ServingPool, airflow_home: AirflowHome, fresh_slack: WebhookReceiver, tmp_path: Path
) -> None:
    previous = alias_version(serving_pool)
    refusing = serving_pool.refusing
    # Bring the refusing replica (its own token) to where the alias points now, as a fresh pod would be.
    synced = httpx.post(f"{refusing.url}/variant/B/reload", headers={"x-token": OTHER_TOKEN}, timeout=120)
    assert synced.json()["version"] == previous
    replica_urls = [serving_pool.urls[0], refusing.url]

    code = run(serving_pool, airflow_home, fresh_slack, tmp_path / "run.log", replica_urls)

    assert code != 0
    assert alias_version(serving_pool) == previous
    assert served_versions(replica_urls, "B") == dict.fromkeys(replica_urls, previous)
    messages = fresh_slack.messages
    failure = next(message for message in messages if "hot swap to" in message)
    assert f"{refusing.url}: FAILED (HTTP 403" in failure
    assert f"{serving_pool.urls[0]}: ok" in failure
    assert any("task_id=trigger_reload" in message and "log_url=" in message for message in messages)
    assert ":rewind: rolled back" in messages[-1]
    assert f"-> v{previous}" in messages[-1]
    assert messages.index(failure) < len(messages) - 1


def replica_models(url: str) -> dict[str, dict[str, dict[str, str]]]:
    models: dict[str, dict[str, dict[str, str]]] = httpx.get(f"{url}/models", timeout=10).json()
    return models
