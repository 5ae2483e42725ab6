"""Slack alerts through a real HTTP receiver on loopback: up, slow and down never change a reload's result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.app.conftest import StartApp
from tests.app.support import TOKEN, reload, wait_for
from tests.webhook import WebhookReceiver
from tooling.infra.localstack import ServerProcess
from tooling.infra.registry_seed import point_alias, register_version, seed_variants

pytestmark = pytest.mark.slow

MODEL = "slack_model"


def test_alerts_are_sent_and_a_slow_or_down_webhook_changes_nothing(
    start_app: StartApp, mlflow: ServerProcess, tmp_path: Path
) -> None:
    seeded = seed_variants(mlflow.url, MODEL)
    newer = register_version(mlflow.url, MODEL, c=0.3).version
    log_file = tmp_path / "logs" / "fastapi.log"

    def logged(text: str) -> bool:
        return log_file.exists() and text in log_file.read_text()

    with WebhookReceiver() as receiver:
        settings = {"MODEL_NAME": MODEL, "SLACK_WEBHOOK_URL": receiver.url, "SLACK_TIMEOUT_SECONDS": "1"}
        with start_app(**settings) as app:
            point_alias(mlflow.url, MODEL, "B", newer)
            assert reload(app, "B").json()["status"] == "reloaded"
            assert wait_for(lambda: any(f"hot-swapped to v{newer}" in m for m in receiver.messages))
            assert "text" in json.loads(receiver.bodies[-1])

            receiver.delay_seconds = 4
            point_alias(mlflow.url, MODEL, "B", seeded["B"])
            slow = reload(app, "B")
            assert (slow.status_code, slow.json()["status"]) == (200, "reloaded")
            assert wait_for(lambda: logged("slack webhook failed (ReadTimeout); alert dropped"))

            receiver.__exit__()
            point_alias(mlflow.url, MODEL, "B", newer)
            down = reload(app, "B")
            assert (down.status_code, down.json()["status"]) == (200, "reloaded")
            assert wait_for(lambda: logged("slack webhook failed (ConnectError); alert dropped"))

    outputs = [log_file.read_text(), *(p.read_text() for p in tmp_path.glob("app-*.out"))]
    for text in outputs:
        assert receiver.path not in text
        assert TOKEN not in text


def test_an_unset_webhook_is_a_logged_no_op(
    start_app: StartApp, mlflow: ServerProcess, tmp_path: Path
) -> None:
    seed_variants(mlflow.url, MODEL)  # moves @A and @B onto two fresh versions
    with start_app(MODEL_NAME=MODEL, REGISTRY_POLL_SECONDS="0") as app:
        point_alias(mlflow.url, MODEL, "B", register_version(mlflow.url, MODEL).version)
        assert reload(app, "B").status_code == 200
        log_file = tmp_path / "logs" / "fastapi.log"
        assert wait_for(lambda: "slack disabled (SLACK_WEBHOOK_URL unset); not sent" in log_file.read_text())
