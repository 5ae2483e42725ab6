"""Pipeline suite fixtures: a real Slack webhook receiver, serving-app replicas, a migrated Airflow home."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import pytest

from tests.pipeline.support import (
    OTHER_TOKEN,
    RELOAD_TOKEN,
    ServingPool,
    enter_concurrently,
    unique_model_name,
)
from tests.webhook import WebhookReceiver
from tooling.infra.airflow import AirflowHome, prepare_airflow_home
from tooling.infra.localstack import MlflowServer, ServerProcess, app_server
from tooling.infra.registry_seed import seed_variants


@pytest.fixture
def fresh_slack() -> Iterator[WebhookReceiver]:
    """A receiver of the test's own (port and path): a late post from a neighbour can never reach it."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def serving_pool(mlflow: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingPool]:
    """Three real serving-app processes on one model (registry watcher off, so only reloads move them)."""
    model_name = unique_model_name()
    versions = seed_variants(mlflow.url, model_name)
    logs = tmp_path_factory.mktemp("replicas")

    def replica(name: str, token: str) -> AbstractContextManager[ServerProcess]:
        env = {**mlflow.serving_env(), "MODEL_NAME": model_name, "RELOAD_SECRET_TOKEN": token}
        return app_server(env, logs / f"{name}.log")

    with ExitStack() as stack:
        first, second, refusing = enter_concurrently(
            stack,
            [
                replica("replica-1", RELOAD_TOKEN),
                replica("replica-2", RELOAD_TOKEN),
                replica("refusing", OTHER_TOKEN),
            ],
        )
        yield ServingPool(mlflow, model_name, versions, [first, second], refusing)


@pytest.fixture(scope="session")
def airflow_migration(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Future[AirflowHome]]:
    """Migrate one embedded Airflow home in the background while the servers start (it takes many seconds)."""
    path = Path(tmp_path_factory.mktemp("airflow"))
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(prepare_airflow_home, path)


@pytest.fixture(scope="session")
def airflow_home(airflow_migration: Future[AirflowHome]) -> AirflowHome:
    """The session's migrated Airflow home, shared by every DAG run."""
    return airflow_migration.result()
