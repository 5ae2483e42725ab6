"""Registering, readiness, moving an alias and moving it back, against the session's real MLflow server."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from mlpipeline import registry
from mlpipeline.training import TrainingResult, train_and_log
from tests.pipeline.support import unique_model_name
from tooling.infra.localstack import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(mlflow: ServerProcess) -> TrainingResult:
    return train_and_log(mlflow.url)


@pytest.fixture
def two_versions(mlflow: ServerProcess, trained: TrainingResult) -> tuple[str, str, str]:
    """A fresh model with two versions of the same trained run: (model_name, v1, v2)."""
    name = unique_model_name("registry")
    v1, v2 = (
        registry.register(
            mlflow.url, name, model_uri=trained.model_uri, run_id=trained.run_id, model_id=trained.model_id
        )
        for _ in range(2)
    )
    return name, v1, v2


@pytest.fixture
def no_deletes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy, not a stand-in: deleting an alias during a move is the non-atomic bug this must never have."""

    def forbidden(*_: object, **__: object) -> None:
        raise AssertionError("an alias was deleted during a move")

    monkeypatch.setattr(MlflowClient, "delete_registered_model_alias", forbidden)


def test_register_creates_the_model_and_numbered_ready_versions(
    mlflow: ServerProcess, two_versions: tuple[str, str, str]
) -> None:
    name, v1, v2 = two_versions
    assert (v1, v2) == ("1", "2")
    assert registry.is_ready(mlflow.url, name, v2) is True


@pytest.mark.usefixtures("no_deletes")
def test_move_alias_sets_it_in_one_call_and_remembers_the_previous_version(
    mlflow: ServerProcess, two_versions: tuple[str, str, str]
) -> None:
    name, v1, v2 = two_versions
    first = registry.move_alias(mlflow.url, name, "B", v1)
    second = registry.move_alias(mlflow.url, name, "B", v2)

    assert first == registry.AliasMove(name, "B", v1, None)
    assert second == registry.AliasMove(name, "B", v2, v1)
    assert registry.alias_version(mlflow.url, name, "B") == v2


def test_alias_version_of_an_unknown_model_or_alias_is_none(
    mlflow: ServerProcess, two_versions: tuple[str, str, str]
) -> None:
    name, _, _ = two_versions
    assert registry.alias_version(mlflow.url, name, "B") is None
    assert registry.alias_version(mlflow.url, unique_model_name("absent"), "B") is None


def test_moving_to_a_version_that_does_not_exist_is_one_line(
    mlflow: ServerProcess, two_versions: tuple[str, str, str]
) -> None:
    name, _, _ = two_versions
    with pytest.raises(registry.RegistryError, match=rf"cannot move {name}@B to v99: "):
        registry.move_alias(mlflow.url, name, "B", "99")
