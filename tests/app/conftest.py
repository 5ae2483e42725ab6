"""Fixtures for the serving app's suites: the app as a real process against the real MLflow server.

Each module that changes aliases registers its own model name, so suites sharing the session's MLflow
server never see each other's alias moves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from tests.app.support import TOKEN
from tooling.infra.localstack import MlflowServer, ServerProcess, app_server, free_port

StartApp = Callable[..., AbstractContextManager[ServerProcess]]


@pytest.fixture
def start_app(mlflow: MlflowServer, tmp_path: Path) -> StartApp:
    """``with start_app(MODEL_NAME=..., **env) as app:`` — the app as a process, its log file in tmp_path."""

    @contextmanager
    def start(**env: str) -> Iterator[ServerProcess]:
        settings = {
            **mlflow.serving_env(),
            "RELOAD_SECRET_TOKEN": TOKEN,
            "LOG_FILE": str(tmp_path / "logs" / "fastapi.log"),
            **env,
        }
        with app_server(settings, tmp_path / f"app-{free_port()}.out") as app:
            yield app

    return start
