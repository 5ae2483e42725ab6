"""Run the real training DAG once against a local MLflow and app replicas (``make demo``'s last stage, tests).

Airflow runs from its own environment (``.venv-airflow``, the Airflow image's lock) with ``airflow dags test``
on an embedded SQLite Airflow home under the work directory; the reload token and the Slack webhook reach it
through the environment, never the command line. The tests drive the same functions.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlpipeline.release.fleet import HttpFleet
from tooling.infra.localstack import (
    LOCAL_RELEASE_POLICY,
    Credentials,
    inherited_environment,
    release_environment,
)
from tooling.model import AIRFLOW_VENV, DAGS_DIR, DEFAULT_MODEL_NAME

AIRFLOW_BIN = AIRFLOW_VENV / "bin" / "airflow"
DAGS_FOLDER = DAGS_DIR
DAG_ID = "ml_train_register_and_reload"
MIGRATE_TIMEOUT_SECONDS = 300
RUN_TIMEOUT_SECONDS = 900


class PipelineStageError(RuntimeError):
    """The stage could not run or the DAG run failed; the message is one line."""


@dataclass(frozen=True)
class AirflowHome:
    """An embedded Airflow: SQLite metadata DB and config under ``path``, DAGs from this repository."""

    path: Path

    def environment(self) -> dict[str, str]:
        return {
            "AIRFLOW_HOME": str(self.path),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.path / 'airflow.db'}",
        }


def _airflow(
    home: AirflowHome, args: Sequence[str], env: Mapping[str, str], log_path: Path, timeout: int
) -> int:
    if not AIRFLOW_BIN.exists():
        raise PipelineStageError(f"{AIRFLOW_BIN} is missing: run `bin/bootstrap airflow`")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            finished = subprocess.run(
                [str(AIRFLOW_BIN), *args],
                env={**inherited_environment(), **home.environment(), **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PipelineStageError(
                f"airflow {args[0]} timed out after {timeout}s (log: {log_path})"
            ) from None
    return finished.returncode


def prepare_airflow_home(path: Path) -> AirflowHome:
    """Create the home and migrate its metadata DB once (``dags test`` needs a migrated DB)."""
    home = AirflowHome(path)
    stamp = path / ".migrated"
    if stamp.exists():
        return home
    path.mkdir(parents=True, exist_ok=True)
    log_path = path / "db-migrate.log"
    if _airflow(home, ["db", "migrate"], {}, log_path, MIGRATE_TIMEOUT_SECONDS) != 0:
        raise PipelineStageError(f"airflow db migrate failed (log: {log_path})")
    stamp.touch()
    return home


def dag_environment(
    mlflow_url: str,
    replica_urls: Sequence[str],
    token: str,
    *,
    writer: Credentials,
    model_name: str = DEFAULT_MODEL_NAME,
    alias: str = "",
    slack_webhook_url: str = "",
    variables: Mapping[str, str] | None = None,
    policy: Mapping[str, str] = LOCAL_RELEASE_POLICY,
) -> dict[str, str]:
    """What the Airflow chart sets in a cluster, with the replicas as a local list of base URLs.

    The DAG's tasks act as the registry's ``writer`` (they register versions and move aliases).
    ``alias`` empty: the release strategy picks it (blue-green: the idle colour). ``policy``: the RELEASE_*
    variables, by default windows of seconds so a local canary finishes quickly.
    """
    airflow_variables = {"model_name": model_name, "mlflow_alias": alias, **(variables or {})}
    return {
        **release_environment(mlflow_url, model_name, replica_urls, token, policy, writer=writer),
        "SLACK_WEBHOOK_URL": slack_webhook_url,
        **{f"AIRFLOW_VAR_{name.upper()}": value for name, value in airflow_variables.items()},
    }


def run_dag(home: AirflowHome, env: Mapping[str, str], log_path: Path) -> int:
    """One ``airflow dags test`` run of the DAG; its task logs go to ``log_path``. Returns the exit code."""
    return _airflow(home, ["dags", "test", DAG_ID], env, log_path, RUN_TIMEOUT_SECONDS)


def release_views(replica_urls: Sequence[str]) -> dict[str, str]:
    """Each replica's ``GET /release`` in one line, read as the release controller reads it."""
    return {view.url: view.describe() for view in HttpFleet(",".join(replica_urls), "").status_all()}


def describe_change(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    lines = ["each replica's release (before -> after):"]
    lines += [f"  {url}: {before.get(url, '-')} -> {view}" for url, view in after.items()]
    return "\n".join(lines)


def run_pipeline_stage(
    mlflow_url: str,
    replica_urls: list[str],
    token: str,
    workdir: Path,
    *,
    writer: Credentials,
    model_name: str = DEFAULT_MODEL_NAME,
    slack_webhook_url: str = "",
    airflow_home: Path | None = None,
) -> str:
    """Run the DAG once; print and return what changed on each replica (its ``GET /release``).

    The Airflow home defaults to ``workdir/airflow`` and is migrated on first use only.
    """
    home = prepare_airflow_home(airflow_home or workdir / "airflow")
    before = release_views(replica_urls)
    env = dag_environment(
        mlflow_url,
        replica_urls,
        token,
        writer=writer,
        model_name=model_name,
        slack_webhook_url=slack_webhook_url,
    )
    log_path = workdir / "airflow-dag-run.log"
    code = run_dag(home, env, log_path)
    change = describe_change(before, release_views(replica_urls))
    print(change)
    if code != 0:
        raise PipelineStageError(f"DAG {DAG_ID} failed (exit {code}); task logs: {log_path}")
    return change
