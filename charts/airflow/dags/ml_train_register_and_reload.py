"""ml_train_register_and_reload: train, threshold, register, READY, then release to every serving replica.

This file only wires tasks; the work is in ``mlpipeline`` (Airflow-free, unit-tested). Tasks import it when
they run, so parsing this file stays fast. ``release`` hands the version to the release controller with the
fleet's strategy (blue-green: the idle colour, then the switch; canary: analysed steps, then promotion; A/B:
@B), the same code as ``make release``. A release that stops has been rolled back by the controller; if the
task fails any other way, ``rollback_release`` undoes this run's release from the release state in the
registry, and ``release_verified`` (the run's last task) ends upstream-failed, so the run fails.

Environment (set by the Airflow chart): MLFLOW_TRACKING_URI, SERVING_REPLICAS, RELOAD_SECRET_TOKEN, the
release policy RELEASE_STEPS, RELEASE_STEP_SECONDS, RELEASE_MIN_REQUESTS, RELEASE_MAX_ERROR_RATE,
RELEASE_MAX_P99_RATIO, RELEASE_QUALITY_MARGIN, RELEASE_CONVERGE_SECONDS, SLACK_WEBHOOK_URL (optional:
SLACK_TIMEOUT_SECONDS), and the Variables as AIRFLOW_VAR_MODEL_NAME, AIRFLOW_VAR_MLFLOW_ALIAS (optional),
AIRFLOW_VAR_LOGREG_C, AIRFLOW_VAR_LOGREG_MAX_ITER, AIRFLOW_VAR_ACCURACY_THRESHOLD.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from airflow.providers.standard.operators.python import BranchPythonOperator, PythonOperator
from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, TriggerRule, Variable
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

DAG_ID = "ml_train_register_and_reload"
TRAIN = "train_and_evaluate"
P = ParamSpec("P")
R = TypeVar("R")


def one_line_failures(task: Callable[P, R]) -> Callable[P, R]:
    """A release stop or a bad Variable fails the task at once (no retry) with the step's one-line reason."""

    @functools.wraps(task)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from mlpipeline.params import ParameterError
        from mlpipeline.steps import StepFailed

        try:
            return task(*args, **kwargs)
        except (StepFailed, ParameterError) as error:
            raise AirflowFailException(str(error)) from None

    return run


def _runtime() -> Any:
    from mlpipeline.steps import Runtime

    return Runtime.from_env()


def _trained(ti: Any) -> dict[str, Any]:
    trained: dict[str, Any] = ti.xcom_pull(task_ids=TRAIN)
    return trained


@one_line_failures
def train_and_evaluate(**_: Any) -> dict[str, Any]:
    from mlpipeline import steps
    from mlpipeline.params import resolve_params

    runtime = _runtime()
    params = resolve_params(
        lambda name: Variable.get(name, default=None),
        lambda warning: runtime.slack.send(f":warning: [Param] {warning}"),
    )
    return steps.train_and_evaluate(runtime, params)


def check_result(ti: Any, **_: Any) -> str:
    from mlpipeline.steps import passes_threshold

    trained = _trained(ti)
    return (
        "register_model"
        if passes_threshold(trained["accuracy"], trained["accuracy_threshold"])
        else "notify_failure"
    )


@one_line_failures
def notify_failure(ti: Any, **_: Any) -> str:
    from mlpipeline import steps

    return steps.notify_below_threshold(_runtime(), _trained(ti))


@one_line_failures
def register_model(ti: Any, **_: Any) -> str:
    from mlpipeline import steps

    return steps.register_model(_runtime(), _trained(ti))


@one_line_failures
def check_model_ready(ti: Any, **_: Any) -> bool:
    from mlpipeline import steps

    return steps.check_model_ready(
        _runtime(), _trained(ti)["model_name"], ti.xcom_pull(task_ids="register_model")
    )


@one_line_failures
def release(ti: Any, **_: Any) -> list[str]:
    from mlpipeline import steps

    trained = _trained(ti)
    version = ti.xcom_pull(task_ids="register_model")
    return steps.release(_runtime(), trained["model_name"], version, trained["alias"])


@one_line_failures
def rollback_release(ti: Any, **_: Any) -> list[str]:
    from mlpipeline import steps

    version = ti.xcom_pull(task_ids="register_model")
    if not version:
        raise AirflowSkipException("no version was registered: nothing to roll back")
    return steps.rollback_release(_runtime(), _trained(ti)["model_name"], version)


def release_verified(ti: Any, **_: Any) -> str:
    from mlpipeline import steps

    return steps.announce_release(
        _runtime(), _trained(ti)["model_name"], ti.xcom_pull(task_ids="register_model")
    )


def alert_task_failure(context: Any) -> None:
    from mlpipeline.notify import SlackNotifier
    from mlpipeline.steps import task_failed_message

    ti = context["ti"]
    SlackNotifier.from_env().send(task_failed_message(ti.dag_id, ti.task_id, ti.log_url))


with DAG(
    dag_id=DAG_ID,
    description=__doc__.splitlines()[0] if __doc__ else None,
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    schedule=None,
    catchup=False,
    max_active_runs=1,  # two runs moving one alias at once could roll back each other's release
    tags=["mlops", "train", "sensor", "release"],
    default_args={"retries": 0, "on_failure_callback": alert_task_failure},
) as dag:
    train = PythonOperator(
        task_id=TRAIN, python_callable=train_and_evaluate, retries=1, retry_delay=timedelta(minutes=1)
    )
    branch = BranchPythonOperator(task_id="check_result", python_callable=check_result)
    below_threshold = PythonOperator(task_id="notify_failure", python_callable=notify_failure)
    register = PythonOperator(task_id="register_model", python_callable=register_model)
    ready = PythonSensor(
        task_id="check_model_ready",
        python_callable=check_model_ready,
        mode="reschedule",
        poke_interval=10,
        timeout=600,
    )
    # A canary runs for steps x RELEASE_STEP_SECONDS at most; the controller bounds every wait itself.
    released_to_fleet = PythonOperator(
        task_id="release", python_callable=release, execution_timeout=timedelta(hours=6)
    )
    rollback = PythonOperator(
        task_id="rollback_release",
        python_callable=rollback_release,
        trigger_rule=TriggerRule.ONE_FAILED,
    )
    # The run's verdict: a leaf that fails (upstream_failed) whenever the release failed, even when the
    # rollback then succeeded, so the run is marked failed; skipped with everything else below threshold.
    released = PythonOperator(
        task_id="release_verified",
        python_callable=release_verified,
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )

    train >> branch >> [register, below_threshold]
    register >> ready >> released_to_fleet >> rollback
    [released_to_fleet, rollback] >> released
