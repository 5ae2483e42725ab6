"""The DAG file parses without errors and wires the designed graph (Airflow's DagBag, no database, seconds).

Airflow lives in its own environment (the Airflow image's lock), so the DagBag is loaded there, the way the
task runner loads a bundle, and reports the graph back as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tooling.infra.airflow import AIRFLOW_BIN, DAG_ID, DAGS_FOLDER, AirflowHome

DESCRIBE_DAG = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag

folder = Path(sys.argv[1])
bag = BundleDagBag(dag_folder=folder, bundle_path=folder)
dag = bag.dags.get(sys.argv[2])
print(json.dumps({
    "import_errors": {str(k): v.splitlines()[-1] for k, v in bag.import_errors.items()},
    "dag_ids": sorted(bag.dags),
    "timetable": None if dag is None else type(dag.timetable).__name__,
    "max_active_runs": None if dag is None else dag.max_active_runs,
    "tasks": {} if dag is None else {
        task.task_id: {
            "type": type(task).__name__,
            "downstream": sorted(task.downstream_task_ids),
            "trigger_rule": str(task.trigger_rule.value),
            "mode": getattr(task, "mode", None),
            "retries": task.retries,
            "alerts_on_failure": bool(task.on_failure_callback),
        }
        for task in dag.tasks
    },
}))
"""

EXPECTED_EDGES = {
    "train_and_evaluate": ["check_result"],
    "check_result": ["notify_failure", "register_model"],
    "notify_failure": [],
    "register_model": ["check_model_ready"],
    "check_model_ready": ["release"],
    "release": ["release_verified", "rollback_release"],
    "rollback_release": ["release_verified"],
    "release_verified": [],
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = AirflowHome(tmp_path_factory.mktemp("airflow-parse"))
    finished = subprocess.run(
        [str(AIRFLOW_BIN.parent / "python"), "-c", DESCRIBE_DAG, str(DAGS_FOLDER), DAG_ID],
        env={**os.environ, **home.environment()},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    parsed: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return parsed


def test_the_dag_folder_parses_without_import_errors(graph: dict[str, Any]) -> None:
    assert graph["import_errors"] == {}
    assert graph["dag_ids"] == [DAG_ID]


def test_the_task_graph_is_the_designed_one(graph: dict[str, Any]) -> None:
    assert {task: spec["downstream"] for task, spec in graph["tasks"].items()} == EXPECTED_EDGES


def test_trigger_rules_branch_sensor_and_retries(graph: dict[str, Any]) -> None:
    tasks = graph["tasks"]
    special = {
        task: spec["trigger_rule"] for task, spec in tasks.items() if spec["trigger_rule"] != "all_success"
    }
    assert special == {
        # Runs when the release failed (or never started); skipped when it succeeded or was skipped.
        "rollback_release": "one_failed",
        # Upstream-failed (so the run fails) whenever the release did not succeed, even after a rollback.
        "release_verified": "none_failed_min_one_success",
    }
    assert tasks["check_result"]["type"] == "BranchPythonOperator"
    assert (tasks["check_model_ready"]["type"], tasks["check_model_ready"]["mode"]) == (
        "PythonSensor",
        "reschedule",
    )
    # A failed release is rolled back at once, never retried into a half-released state.
    assert {task: spec["retries"] for task, spec in tasks.items() if spec["retries"]} == {
        "train_and_evaluate": 1
    }


def test_every_task_alerts_on_failure_and_runs_only_when_triggered(graph: dict[str, Any]) -> None:
    assert all(spec["alerts_on_failure"] for spec in graph["tasks"].values())
    assert graph["timetable"] == "NullTimetable"  # schedule=None: runs only when triggered
    assert graph["max_active_runs"] == 1
