"""``GET /experiment`` is written by the app (serving image) and read by the canary's quality gate (Airflow
image): two code bases that cannot import each other. This holds the report the app builds from a real
prediction log (SQLite) to the fields the controller reads."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mlpipeline.release.ports import ExperimentView
from serving.outcomes.experiment import Scope, report, without_log
from serving.outcomes.grading import grade
from serving.outcomes.log import PredictionLog, PredictionRecord

SCOPE = Scope(experiment_id="exp-1", since=None, task="classification", alpha=0.05)


def record(request_id: str, variant: str) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id, created=time.time(), experiment_id="exp-1", mode="ab_test", wanted=variant,
        variant=variant, version="1", b_share=50, task="classification", prediction=[1], latency_ms=1.0,
        model_ms=0.5,
    )  # fmt: skip


def logged(tmp_path: Path, correct: dict[str, int], per_variant: int = 60) -> PredictionLog:
    """``per_variant`` labelled one-row predictions per variant, ``correct[v]`` of them right."""
    log = PredictionLog(f"sqlite:///{tmp_path / 'predictions.db'}")
    log.migrate()
    records = [
        record(f"{variant}-{index}", variant) for variant in ("A", "B") for index in range(per_variant)
    ]
    log.insert(records)
    for written in records:
        variant, index = written.request_id.split("-")
        label = 1 if int(index) < correct[variant] else 0
        [row] = log.find(written.request_id)
        assert log.set_label(row.id, json.dumps([label]), grade([1], [label], "classification"))
    return log


def read(body: dict[str, object]) -> ExperimentView:
    return ExperimentView.from_body("http://replica", json.loads(json.dumps(body)))  # as it crosses HTTP


def test_the_gate_reads_the_report_of_a_real_log(tmp_path: Path) -> None:
    body = report(logged(tmp_path, {"A": 57, "B": 30}), SCOPE)
    view = read(body)
    assert view.ok, view.detail
    assert (view.metric, view.a_labelled, view.b_labelled) == ("accuracy", 60, 60)
    assert view.difference is not None
    assert view.difference.upper < 0  # B (50 %) is clearly worse than A (95 %)
    assert view.difference.estimate == body["verdict"]["difference"]["estimate"]  # type: ignore[index]


def test_an_app_without_a_log_reads_as_no_labels(tmp_path: Path) -> None:
    view = read(without_log(SCOPE))
    assert view.ok, view.detail
    assert (view.a_labelled, view.b_labelled, view.difference) == (0, 0, None)
