"""Release suite fixtures: ``start_fleet(mode settings)`` gives a fresh model and two real replicas."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.release.support import Fleet, running_fleet
from tooling.infra.localstack import MlflowServer

StartFleet = Callable[..., AbstractContextManager[Fleet]]


@pytest.fixture
def start_fleet(mlflow: MlflowServer, tmp_path: Path) -> StartFleet:
    """``with start_fleet(ALIAS_SELECTION_MODE="canary", ...) as fleet:``; logs under tmp_path."""

    def start(replicas: int = 2, **settings: str) -> AbstractContextManager[Fleet]:
        return running_fleet(mlflow, tmp_path / "replicas", settings, replicas)

    return start
