"""Pipeline steps without Airflow: rollback and per-replica failure reports, on real MLflow and replicas."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from mlpipeline import registry, replicas, steps
from mlpipeline.notify import SlackNotifier
from tests.pipeline.support import RELOAD_TOKEN, ServingPool
from tests.webhook import WebhookReceiver
from tooling.infra.airflow import served_versions
from tooling.infra.localstack import LOOPBACK, free_port


def runtime_for(pool: ServingPool, urls: list[str], slack: WebhookReceiver) -> steps.Runtime:
    return steps.Runtime(pool.mlflow_url, ",".join(urls), RELOAD_TOKEN, SlackNotifier(slack.url))


def test_runtime_without_a_tracking_uri_is_one_line() -> None:
    with pytest.raises(steps.StepFailed, match=r"^environment variable MLFLOW_TRACKING_URI is not set$"):
        steps.Runtime.from_env({"SERVING_REPLICAS": "http://127.0.0.1:1"})


def test_a_hot_swap_without_a_token_stops_before_calling_any_replica(fresh_slack: WebhookReceiver) -> None:
    runtime = steps.Runtime(
        "http://127.0.0.1:1", "dns+http://unresolvable.invalid:8000", "", SlackNotifier(fresh_slack.url)
    )
    with pytest.raises(steps.StepFailed, match="RELOAD_SECRET_TOKEN is not set"):
        steps.trigger_reload(runtime, "B", "3", "run-id")
    assert len(fresh_slack.messages) == 1


@pytest.mark.parametrize(("accuracy", "passes"), [(0.9, True), (0.95, True), (0.8999, False)])
def test_the_threshold_is_inclusive(accuracy: float, passes: bool) -> None:
    assert steps.passes_threshold(accuracy, 0.9) is passes


@pytest.mark.slow
def test_rollback_moves_the_alias_back_and_every_replica_serves_the_previous_version(
    serving_pool: ServingPool, fresh_slack: WebhookReceiver
) -> None:
    runtime = runtime_for(serving_pool, serving_pool.urls, fresh_slack)
    current = registry.alias_version(serving_pool.mlflow_url, serving_pool.model_name, "B")
    assert current is not None
    other = next(version for version in serving_pool.versions.values() if version != current)
    move = registry.move_alias(serving_pool.mlflow_url, serving_pool.model_name, "B", other)
    assert replicas.reload_all(serving_pool.urls, "B", RELOAD_TOKEN).ok

    lines = steps.rollback(runtime, asdict(move))

    assert registry.alias_version(serving_pool.mlflow_url, serving_pool.model_name, "B") == current
    assert served_versions(serving_pool.urls, "B") == dict.fromkeys(serving_pool.urls, current)
    assert lines == [f"{url}: ok v{current}" for url in serving_pool.urls]
    assert fresh_slack.messages[-1].startswith(
        f":rewind: rolled back {serving_pool.model_name}@B v{other} -> v{current}"
    )


@pytest.mark.slow
def test_a_failed_hot_swap_names_the_failing_replica_and_tells_slack(
    serving_pool: ServingPool, fresh_slack: WebhookReceiver
) -> None:
    down = f"http://{LOOPBACK}:{free_port()}"
    runtime = runtime_for(serving_pool, [serving_pool.urls[0], down], fresh_slack)
    current = registry.alias_version(serving_pool.mlflow_url, serving_pool.model_name, "B")
    assert current is not None

    with pytest.raises(steps.StepFailed) as raised:
        steps.trigger_reload(runtime, "B", current, "run-id")

    message = str(raised.value)
    assert f"{serving_pool.urls[0]}: ok v{current}" in message
    assert f"{down}: FAILED (unreachable: ConnectError)" in message
    assert "\n" not in message
    assert fresh_slack.messages == [f":x: {message}"]
