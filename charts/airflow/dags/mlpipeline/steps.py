"""The pipeline's steps, one function per DAG task, with no Airflow in them.

Each step takes the run's ``Runtime`` (where MLflow and Slack are, and the environment the release controller
reads: the replicas, the token, the RELEASE_* policy) and plain values pulled from earlier steps, returns
JSON-able values for the next ones, sends its Slack message, and raises ``StepFailed`` with one line when the
run must stop. Releasing and rolling back are the release controller's (``mlpipeline.release``), the same
code ``make release`` and ``make rollback`` run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mlpipeline import registry
from mlpipeline.notify import SlackNotifier
from mlpipeline.params import PipelineParams
from mlpipeline.release.controller import ReleaseController
from mlpipeline.release.errors import UsageError


class StepFailed(RuntimeError):
    """The release stops here; the message is one line (it is also what Slack was told)."""


@dataclass(frozen=True)
class Runtime:
    tracking_uri: str
    environ: Mapping[str, str] = field(repr=False)  # carries the reload token: never in a repr or log
    slack: SlackNotifier

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Runtime:
        tracking_uri = environ.get("MLFLOW_TRACKING_URI", "").strip()
        if not tracking_uri:
            raise StepFailed("environment variable MLFLOW_TRACKING_URI is not set")
        return cls(tracking_uri=tracking_uri, environ=dict(environ), slack=SlackNotifier.from_env())

    def slack_line(self, line: str) -> None:
        self.slack.send(line)

    def fail(self, message: str) -> StepFailed:
        """Tell Slack, then hand back the exception for the caller to raise."""
        self.slack.send(f":x: {message}")
        return StepFailed(message)


def train_and_evaluate(runtime: Runtime, params: PipelineParams) -> dict[str, Any]:
    from mlpipeline.training import train_and_log  # sklearn and mlflow: imported by the task, not the parser

    result = train_and_log(runtime.tracking_uri, c=params.c, max_iter=params.max_iter)
    return {**asdict(result), **params.as_dict()}


def passes_threshold(accuracy: float, threshold: float) -> bool:
    return accuracy >= threshold


def notify_below_threshold(runtime: Runtime, trained: Mapping[str, Any]) -> str:
    message = (
        f":warning: {trained['model_name']}: accuracy {trained['accuracy']:.4f} is below the threshold "
        f"{trained['accuracy_threshold']} (run_id={trained['run_id']}); nothing registered, "
        f"@{trained['alias']} unchanged"
    )
    runtime.slack.send(message)
    return message


def register_model(runtime: Runtime, trained: Mapping[str, Any]) -> str:
    model_name, alias, run_id = trained["model_name"], trained["alias"], trained["run_id"]
    try:
        version = registry.register(
            runtime.tracking_uri,
            model_name,
            model_uri=trained["model_uri"],
            run_id=run_id,
            model_id=trained["model_id"],
        )
    except registry.RegistryError as error:
        # The alias moves only after READY, so a failed registration has nothing to roll back.
        raise runtime.fail(f"registration failed: {error}; @{alias} unchanged (no rollback needed)") from None
    runtime.slack.send(
        f":package: registered {model_name} v{version} (run_id={run_id}, "
        f"accuracy {trained['accuracy']:.4f}); @{alias} moves once it is READY"
    )
    return version


def check_model_ready(runtime: Runtime, model_name: str, version: str) -> bool:
    try:
        ready = registry.is_ready(runtime.tracking_uri, model_name, version)
    except registry.RegistryError as error:
        raise runtime.fail(f"sensor: {error}") from None
    if ready:
        runtime.slack.send(f":large_green_circle: sensor: {model_name} v{version} is {registry.READY}")
    return ready


def _controller(runtime: Runtime, model_name: str) -> ReleaseController:
    """The release controller (the one ``make release`` runs) for ``model_name``; each step line to Slack."""
    environ = {**runtime.environ, "MLFLOW_TRACKING_URI": runtime.tracking_uri, "MODEL_NAME": model_name}
    try:
        return ReleaseController.from_env(environ, report=runtime.slack_line)
    except UsageError as error:
        raise runtime.fail(f"release cannot start: {error}") from None


def release(runtime: Runtime, model_name: str, version: str, alias: str | None) -> list[str]:
    """Hand ``version`` to the release controller with the fleet's strategy; fails unless it is released.

    Blue-green loads it on the idle colour and switches; canary steps through the analysed weights and
    promotes; A/B loads it on @B. A stopped release has already been rolled back by the controller.
    """
    outcome = _controller(runtime, model_name).release(version, alias)
    if outcome.exit_code != 0:
        last = outcome.lines[-1] if outcome.lines else "no step ran"
        raise StepFailed(f"release of {model_name} v{version} did not complete: {last}")
    return list(outcome.lines)


def rollback_release(runtime: Runtime, model_name: str, version: str) -> list[str]:
    """Roll back this run's release, reading what to restore from the release state (never from XCom).

    A no-op when this run's version was never released or is already rolled back (the controller rolls a
    stopped release back itself), so the task is safe to retry.
    """
    outcome = _controller(runtime, model_name).rollback(release_of=version)
    if outcome.exit_code != 0:
        raise StepFailed(f"rollback of {model_name} v{version} incomplete: {outcome.lines[-1]}")
    return list(outcome.lines)


def announce_release(runtime: Runtime, model_name: str, version: str) -> str:
    message = f":white_check_mark: release of {model_name} v{version} complete"
    runtime.slack.send(message)
    return message


def task_failed_message(dag_id: str, task_id: str, log_url: str) -> str:
    return f":rotating_light: task failed: dag_id={dag_id} task_id={task_id} log_url={log_url}"
