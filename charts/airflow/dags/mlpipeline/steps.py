"""The pipeline's steps, one function per DAG task, with no Airflow in them.

Each step takes the run's ``Runtime`` (where MLflow, the replicas, the token and Slack are) and plain values
pulled from earlier steps, returns JSON-able values for the next ones, sends its Slack message, and raises
``StepFailed`` with one line when the release must stop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mlpipeline import registry, replicas
from mlpipeline.notify import SlackNotifier
from mlpipeline.params import PipelineParams


class StepFailed(RuntimeError):
    """The release stops here; the message is one line (it is also what Slack was told)."""


@dataclass(frozen=True)
class Runtime:
    tracking_uri: str
    replicas_spec: str
    reload_token: str
    slack: SlackNotifier

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Runtime:
        tracking_uri = environ.get("MLFLOW_TRACKING_URI", "").strip()
        if not tracking_uri:
            raise StepFailed("environment variable MLFLOW_TRACKING_URI is not set")
        return cls(
            tracking_uri=tracking_uri,
            replicas_spec=environ.get("SERVING_REPLICAS", ""),
            reload_token=environ.get("RELOAD_SECRET_TOKEN", "").strip(),
            slack=SlackNotifier.from_env(),
        )

    def replica_urls(self) -> list[str]:
        try:
            return replicas.discover(self.replicas_spec)
        except replicas.DiscoveryError as error:
            raise StepFailed(str(error)) from None

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


def move_alias(runtime: Runtime, model_name: str, alias: str, version: str) -> dict[str, Any]:
    try:
        move = registry.move_alias(runtime.tracking_uri, model_name, alias, version)
    except registry.RegistryError as error:
        raise runtime.fail(str(error)) from None
    runtime.slack.send(f":arrow_right: {model_name}@{alias}: v{move.previous_version or '-'} -> v{version}")
    return asdict(move)


def trigger_reload(runtime: Runtime, alias: str, version: str, run_id: str) -> list[str]:
    """Hot-swap ``alias`` on every replica; fails unless every replica now serves ``version``."""
    if not runtime.reload_token:
        raise runtime.fail("environment variable RELOAD_SECRET_TOKEN is not set: replicas cannot be reloaded")
    report = replicas.reload_all(runtime.replica_urls(), alias, runtime.reload_token)
    if not report.ok:
        raise runtime.fail(f"hot swap to v{version} failed: {report.summary()}")
    stale = [outcome.line() for outcome in report.outcomes if outcome.version != version]
    if stale:
        raise runtime.fail(f"hot swap to v{version} loaded another version: {'; '.join(stale)}")
    runtime.slack.send(
        f":arrows_counterclockwise: hot swap @{alias} -> v{version} (run_id={run_id}): {report.summary()}"
    )
    return [outcome.line() for outcome in report.outcomes]


def verify_replicas(runtime: Runtime, alias: str, version: str) -> str:
    report = replicas.verify_all(runtime.replica_urls(), alias, version)
    if not report.ok:
        raise runtime.fail(f"verification failed: {report.summary()}")
    return report.summary()


def announce_release(runtime: Runtime, model_name: str, verified: str) -> str:
    message = f":white_check_mark: release of {model_name} verified: {verified}"
    runtime.slack.send(message)
    return message


def rollback(runtime: Runtime, move: Mapping[str, Any]) -> list[str]:
    """Point the alias back at its previous version, reload every replica, check they all serve it."""
    undo = registry.AliasMove(**move)
    label = f"{undo.model_name}@{undo.alias}"
    try:
        registry.restore_alias(runtime.tracking_uri, undo)
    except registry.RegistryError as error:
        raise runtime.fail(f"rollback failed: {error}") from None
    if undo.previous_version is None:
        raise runtime.fail(
            f"rollback: {label} had no previous version, alias removed; "
            f"replicas keep v{undo.version} in memory"
        )
    urls = runtime.replica_urls()
    reload_report = replicas.reload_all(urls, undo.alias, runtime.reload_token)
    verify_report = replicas.verify_all(urls, undo.alias, undo.previous_version)
    if not verify_report.ok:
        raise runtime.fail(
            f"rollback of {label} to v{undo.previous_version} incomplete: {verify_report.summary()} "
            f"(reload: {reload_report.summary()})"
        )
    runtime.slack.send(
        f":rewind: rolled back {label} v{undo.version} -> v{undo.previous_version}; {verify_report.summary()}"
    )
    return [outcome.line() for outcome in verify_report.outcomes]


def task_failed_message(dag_id: str, task_id: str, log_url: str) -> str:
    return f":rotating_light: task failed: dag_id={dag_id} task_id={task_id} log_url={log_url}"
