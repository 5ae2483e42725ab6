"""Fixtures shared by every suite: a real MLflow server on loopback with two registered iris models, and a
real PostgreSQL server for the prediction log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tooling.infra.localstack import MlflowServer, mlflow_client_credentials, mlflow_server
from tooling.infra.postgres import PostgresServer, postgres_server
from tooling.infra.registry_seed import seed_variants
from tooling.model import DEFAULT_MODEL_NAME

MODEL_NAME = DEFAULT_MODEL_NAME


@pytest.fixture(scope="session")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` with its basic-auth app (SQLite + local artifacts), shared by the session.
    The test process's own MLflow clients (registration, alias moves) act as its writer; serving apps get
    the read-only user (``mlflow.serving_env()``)."""
    with (
        mlflow_server(tmp_path_factory.mktemp("mlflow")) as server,
        mlflow_client_credentials(server.users.writer),
    ):
        yield server


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1, shared by the session: ``.url`` is the app's own database and
    role (``PREDICTION_LOG_URL``); ``.stop()`` / ``.start()`` take it down and back (same port, same data)."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def seeded_versions(mlflow: MlflowServer) -> dict[str, str]:
    """``best_model`` with alias A and B on two different versions: {"A": "1", "B": "2"}."""
    return seed_variants(mlflow.url, MODEL_NAME)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path
