"""What the pipeline suite's fixtures and tests share: tokens, the Slack receiver, the replica pool."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import TypeVar

from mlpipeline import registry
from tooling.infra.localstack import MlflowServer, ServerProcess

RELOAD_TOKEN = "pipeline-test-token"
OTHER_TOKEN = "another-replicas-token"
T = TypeVar("T")
_model_names = itertools.count(1)


def unique_model_name(prefix: str = "pipeline") -> str:
    """The session's MLflow server is shared with other suites: every test gets its own model."""
    return f"{prefix}_{next(_model_names)}_{int(time.time() * 1000)}"


@dataclass
class ServingPool:
    """A registered model with aliases A and B: two replicas share ``RELOAD_TOKEN``, a third has its own."""

    mlflow: MlflowServer
    model_name: str
    versions: dict[str, str]
    replicas: list[ServerProcess]
    refusing: ServerProcess

    @property
    def mlflow_url(self) -> str:
        return self.mlflow.url

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]


def enter_concurrently(stack: ExitStack, managers: list[AbstractContextManager[T]]) -> list[T]:
    """Start several servers at once (each start-up waits for readiness); every started one is stopped."""
    with ThreadPoolExecutor(len(managers)) as pool:
        futures = [pool.submit(manager.__enter__) for manager in managers]
        wait(futures)
    for manager, future in zip(managers, futures, strict=True):
        if future.exception() is None:
            stack.push(manager.__exit__)
    return [future.result() for future in futures]


def alias_versions(mlflow_url: str, model_name: str) -> dict[str, str]:
    """Every alias of ``model_name`` and its version, read straight from the registry."""
    model = registry.client(mlflow_url).get_registered_model(model_name)
    return {alias: str(version) for alias, version in model.aliases.items()}
