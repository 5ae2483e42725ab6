"""The real DAG under ``airflow dags test`` with a real MLflow server, app replicas and Slack receiver.

Nothing is mocked: the scenarios share the session's MLflow server, one migrated Airflow home and the
replicas (blue-green, the prod strategy), and each starts from whatever the release state says at that moment.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient

from mlpipeline.registry import client
from tests.pipeline.support import OTHER_TOKEN, RELOAD_TOKEN, ServingPool, alias_versions
from tests.webhook import WebhookReceiver
from tooling.infra.airflow import (
    AirflowHome,
    PipelineStageError,
    dag_environment,
    run_dag,
    run_pipeline_stage,
)
from tooling.infra.localstack import LOCAL_RELEASE_POLICY

# Migration starts first, in the background, so it overlaps the servers' start-up.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("airflow_migration")]


def registry(pool: ServingPool) -> MlflowClient:
    return client(pool.mlflow_url)


def aliases(pool: ServingPool) -> dict[str, str]:
    return alias_versions(pool.mlflow_url, pool.model_name)


def version_count(pool: ServingPool) -> int:
    return len(registry(pool).search_model_versions(f"name='{pool.model_name}'"))


def reports(urls: list[str]) -> dict[str, dict[str, object]]:
    with httpx.Client(timeout=10) as http:
        return {url: http.get(f"{url}/release").json() for url in urls}


def live_colour(pool: ServingPool) -> str:
    colours = {str(report["live"]) for report in reports(pool.urls).values()}
    assert len(colours) == 1, colours
    return colours.pop()


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
        writer=pool.mlflow.users.writer,
        model_name=pool.model_name,
        slack_webhook_url=slack.url,
        variables=variables,
        policy={**LOCAL_RELEASE_POLICY, "RELEASE_CONVERGE_SECONDS": "5"},
    )
    return run_dag(home, env, log_path)


def test_blue_green_release_goes_to_the_idle_colour_then_switches_every_replica(
    serving_pool: ServingPool, airflow_home: AirflowHome, fresh_slack: WebhookReceiver, tmp_path: Path
) -> None:
    live = live_colour(serving_pool)
    idle = "B" if live == "A" else "A"
    before = aliases(serving_pool)

    # Through the demo's own stage, so `make demo` runs exactly what is tested here.
    try:
        change = run_pipeline_stage(
            serving_pool.mlflow_url,
            serving_pool.urls,
            RELOAD_TOKEN,
            tmp_path,
            writer=serving_pool.mlflow.users.writer,
            model_name=serving_pool.model_name,
            slack_webhook_url=fresh_slack.url,
            airflow_home=airflow_home.path,
        )
    except PipelineStageError as error:
        pytest.fail(f"{error}\n{(tmp_path / 'airflow-dag-run.log').read_text()[-3000:]}")

    log = (tmp_path / "airflow-dag-run.log").read_text()
    after = aliases(serving_pool)
    new = after[idle]
    assert int(new) > int(before[idle])
    assert after[live] == before[live]  # the live colour's version is never touched
    assert live_colour(serving_pool) == idle
    for url, report in reports(serving_pool.urls).items():
        assert report["versions"] == after, url
        assert report["phase"] == "released"
        assert f" live={idle} " in change.split(url)[1].splitlines()[0].split(" -> ")[1]
    registered = registry(serving_pool).get_model_version(serving_pool.model_name, new)
    for url in serving_pool.urls:
        served = httpx.get(f"{url}/models", timeout=10).json()["variants"][idle]
        assert (served["version"], served["run_id"]) == (new, registered.run_id)
    messages = fresh_slack.messages
    expected_order = [
        ":package: registered",
        "is READY",
        f"to @{idle} (blue_green) recorded",
        f"every replica serves v{new} on the idle colour @{idle}",
        f"live colour switched to @{idle}",
        f":white_check_mark: release of {serving_pool.model_name} v{new} complete",
    ]
    positions = [next(i for i, m in enumerate(messages) if marker in m) for marker in expected_order]
    assert positions == sorted(positions), messages
    assert RELOAD_TOKEN not in log
    assert fresh_slack.url not in log


def test_below_threshold_registers_nothing_and_notifies(
    serving_pool: ServingPool, airflow_home: AirflowHome, fresh_slack: WebhookReceiver, tmp_path: Path
) -> None:
    before, versions, state = aliases(serving_pool), version_count(serving_pool), reports(serving_pool.urls)

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
    assert (aliases(serving_pool), version_count(serving_pool)) == (before, versions)
    assert reports(serving_pool.urls) == state
    assert len(fresh_slack.messages) == 1, fresh_slack.messages
    assert "below the threshold 0.99" in fresh_slack.messages[0]
    assert "nothing registered" in fresh_slack.messages[0]


def test_a_replica_refusing_the_reload_token_fails_the_run_in_one_line_with_nothing_moved(
    serving_pool: ServingPool, airflow_home: AirflowHome, fresh_slack: WebhookReceiver, tmp_path: Path
) -> None:
    refusing = serving_pool.refusing
    # Bring the refusing replica (its own token) to the current release, as a fresh pod would be.
    synced = httpx.post(f"{refusing.url}/release/sync", headers={"x-token": OTHER_TOKEN}, timeout=120)
    assert synced.status_code == 200, synced.text
    replica_urls = [serving_pool.urls[0], refusing.url]
    live, before = live_colour(serving_pool), aliases(serving_pool)

    code = run(serving_pool, airflow_home, fresh_slack, tmp_path / "run.log", replica_urls)

    assert code != 0
    assert aliases(serving_pool) == before
    assert live_colour(serving_pool) == live
    for url, report in reports(replica_urls).items():
        assert report["versions"] == before, url
        assert report["live"] == live, url
    messages = fresh_slack.messages
    rejected = f"reload token rejected by replica {refusing.url} (POST /release/sync: HTTP 403"
    assert any(rejected in message and "nothing moved" in message for message in messages), messages
    assert any("task_id=release" in message and "log_url=" in message for message in messages)
    assert not any("rolling back release" in message for message in messages)  # nothing to roll back
    log = (tmp_path / "run.log").read_text()
    assert rejected in log
    assert RELOAD_TOKEN not in log
    assert OTHER_TOKEN not in log
