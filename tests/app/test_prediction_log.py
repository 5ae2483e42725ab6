"""The prediction log's pieces in-process, on real SQLite files: grading, the writer's queue, migrations, and
what a duplicate request id does to a batch."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from serving.outcomes.grading import LabelError, canonical, encode, grade, per_row
from serving.outcomes.log import PredictionLog, PredictionRecord, database_url, redacted
from serving.outcomes.writer import LogWriter
from tooling.infra.localstack import free_port


def record(request_id: str, prediction: list[object] | None = None, shadow: bool = False) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id, created=time.time(), experiment_id="e", mode="ab_test", wanted="A",
        variant="A", version="1", b_share=10, task="classification", prediction=prediction or [1],
        latency_ms=2.0, model_ms=1.0, shadow=shadow,
    )  # fmt: skip


def dropped() -> float:
    return REGISTRY.get_sample_value("serving_prediction_log_dropped_total") or 0.0


@pytest.fixture
def log(tmp_path: Path) -> PredictionLog:
    return PredictionLog(f"sqlite:///{tmp_path / 'logs' / 'predictions.db'}")


def test_labels_grade_by_task() -> None:
    assert grade([2, 0, 1], per_row([2.0, 1, 1], 3), "classification").total == 2  # 2.0 is the class 2
    assert grade(["setosa"], per_row("setosa", 1), "classification").total == 1
    assert grade([True], per_row(1, 1), "classification").total == 0  # a boolean is not the class 1
    regression = grade([1.5, 3.0], per_row([1.0, 5.0], 2), "regression")
    assert (regression.n, regression.total, regression.total_sq) == (2, 2.5, 4.25)
    assert encode({"b": 2.0, "a": [1.0]}) == encode({"a": [1], "b": 2}) == '{"a":[1],"b":2}'
    assert canonical(2.5) == 2.5


@pytest.mark.parametrize(
    ("prediction", "label", "task", "problem"),
    [
        ([1, 2], 1, "classification", "give the label as a list of 2 values"),
        ([1], [1, 2], "classification", "label has 2 values but the prediction has 1 rows"),
        ([1.5], "tall", "regression", "label must be a finite number"),
        ([1.5], True, "regression", "label must be a finite number"),
        (["x"], 1.0, "regression", "the prediction must be a finite number"),
    ],
)
def test_a_label_that_cannot_grade_is_named(
    prediction: list[object], label: object, task: str, problem: str
) -> None:
    with pytest.raises(LabelError, match=problem):
        grade(prediction, per_row(label, len(prediction)), task)


def test_the_default_log_is_a_file_beside_the_app_log() -> None:
    assert database_url(None, "/app/logs/fastapi.log") == "sqlite:////app/logs/predictions.db"
    assert database_url("", "") == "sqlite:///logs/predictions.db"
    assert (
        redacted("postgresql+psycopg://serving:s3cret@db:5432/p")
        == "postgresql+psycopg://serving:***@db:5432/p"
    )


def test_migrations_are_idempotent_and_a_resent_request_id_keeps_its_first_record(log: PredictionLog) -> None:
    log.migrate()
    log.migrate()
    log.insert([record("r-1", [1]), record("r-2")])
    log.insert([record("r-1", [2]), record("r-3"), record("r-1", [0], shadow=True)])  # one duplicate
    assert [row.prediction for row in log.find("r-1")] == [[1], [0]]  # the live one kept, its shadow added
    assert log.find("r-3")


def test_a_full_queue_drops_and_counts_and_the_writer_writes_the_rest(log: PredictionLog) -> None:
    writer = LogWriter(log, queue_size=3, batch_size=2, linger_seconds=0.0)
    before = dropped()
    for index in range(8):  # the thread is not started: nothing leaves the queue yet
        writer.submit(record(f"q-{index}"))
    assert dropped() - before == 5
    writer.start()
    assert writer.flush(timeout=30)
    assert writer.ready
    writer.close(timeout=5)
    assert [bool(log.find(f"q-{index}")) for index in range(8)] == [True] * 3 + [False] * 5


def test_a_shutdown_with_the_database_away_gives_up_after_its_grace(tmp_path: Path) -> None:
    # Nothing listens on this port: every connection is refused at once, as from a stopped server.
    away = PredictionLog(f"postgresql+psycopg://serving:pw@127.0.0.1:{free_port()}/predictions")
    writer = LogWriter(away, queue_size=10, batch_size=10, linger_seconds=0.0)
    writer.start()
    writer.submit(record("lost"))
    assert not writer.ready
    assert not writer.flush(timeout=0.5)
    writer.close(timeout=1)
    assert not writer.running  # it gave up when the grace period ended, rather than wait for the database
