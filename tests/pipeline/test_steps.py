"""Pipeline steps without Airflow: the runtime, the threshold, and the release steps' one-line failures."""

from __future__ import annotations

import httpx
import pytest

from mlpipeline import steps
from mlpipeline.notify import SlackNotifier
from tests.pipeline.support import RELOAD_TOKEN, ServingPool, alias_versions
from tests.webhook import WebhookReceiver
from tooling.infra.localstack import ServerProcess, release_environment


def runtime(tracking_uri: str, slack: WebhookReceiver, **environ: str) -> steps.Runtime:
    return steps.Runtime(tracking_uri, environ, SlackNotifier(slack.url))


def test_runtime_without_a_tracking_uri_is_one_line() -> None:
    with pytest.raises(steps.StepFailed, match=r"^environment variable MLFLOW_TRACKING_URI is not set$"):
        steps.Runtime.from_env({"SERVING_REPLICAS": "http://127.0.0.1:1"})


def test_the_runtime_never_shows_the_token_it_carries() -> None:
    carried = steps.Runtime.from_env({"MLFLOW_TRACKING_URI": "http://m", "RELOAD_SECRET_TOKEN": "s3cret"})
    assert carried.environ["RELOAD_SECRET_TOKEN"] == "s3cret"
    assert "s3cret" not in repr(carried)


@pytest.mark.parametrize(("accuracy", "passes"), [(0.9, True), (0.95, True), (0.8999, False)])
def test_the_threshold_is_inclusive(accuracy: float, passes: bool) -> None:
    assert steps.passes_threshold(accuracy, 0.9) is passes


def test_a_release_without_replicas_stops_with_one_line_and_tells_slack(
    fresh_slack: WebhookReceiver,
) -> None:
    with pytest.raises(steps.StepFailed) as raised:
        steps.release(runtime("http://127.0.0.1:1", fresh_slack), "best_model", "3", None)

    message = str(raised.value)
    assert message == "release cannot start: SERVING_REPLICAS is not set: " + (
        "base URLs or dns+http://<headless-service>:<port>"
    )
    assert fresh_slack.messages == [f":x: {message}"]


@pytest.mark.slow
def test_rolling_back_a_version_that_was_never_released_changes_nothing(
    mlflow: ServerProcess, seeded_versions: dict[str, str], fresh_slack: WebhookReceiver
) -> None:
    # The registry has no release state for this model: there is nothing this run could undo.
    lines = steps.rollback_release(
        runtime(mlflow.url, fresh_slack, SERVING_REPLICAS="http://127.0.0.1:1"), "best_model", "99"
    )
    assert lines == ["nothing to roll back: v99 was never released"]
    assert fresh_slack.messages == lines


@pytest.mark.slow
def test_a_reload_token_the_replicas_refuse_fails_the_release_in_one_line_with_nothing_moved(
    serving_pool: ServingPool, fresh_slack: WebhookReceiver
) -> None:
    # The pipeline's Secret holds another token than the app's (real replicas, real MLflow).
    wrong_token = "pipeline-secret-that-the-app-does-not-hold"
    pool, version = serving_pool, serving_pool.versions["A"]
    environ = release_environment(
        pool.mlflow_url, pool.model_name, pool.urls, wrong_token, writer=pool.mlflow.users.writer
    )
    aliases = alias_versions(pool.mlflow_url, pool.model_name)
    releases = [httpx.get(f"{url}/release", timeout=10).json() for url in pool.urls]

    with pytest.raises(steps.StepFailed) as raised:
        steps.release(runtime(pool.mlflow_url, fresh_slack, **environ), pool.model_name, version, None)

    message = str(raised.value)
    assert message.startswith(
        f"release of {pool.model_name} v{version} did not complete: release of v{version} not started, "
        f"nothing moved: reload token rejected by replica {', '.join(pool.urls)} "
        "(POST /release/sync: HTTP 403"
    ), message
    assert message.endswith("): the pipeline's RELOAD_SECRET_TOKEN is not the app's")
    assert "\n" not in message
    assert alias_versions(pool.mlflow_url, pool.model_name) == aliases
    assert [httpx.get(f"{url}/release", timeout=10).json() for url in pool.urls] == releases
    for text in (message, *fresh_slack.messages):
        assert wrong_token not in text
        assert RELOAD_TOKEN not in text
