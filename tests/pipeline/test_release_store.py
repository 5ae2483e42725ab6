"""MlflowStore against the session's real MLflow server: the state tag, compare-and-set moves, versions."""

from __future__ import annotations

import pytest

from mlpipeline.registry import READY
from mlpipeline.release.errors import ConflictError
from mlpipeline.release.mlflow_store import MlflowStore, example_rows
from mlpipeline.release.state import Before, ReleaseState, Routing
from tests.pipeline.support import unique_model_name
from tooling.infra.localstack import ServerProcess
from tooling.infra.registry_seed import register_version

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(mlflow: ServerProcess) -> MlflowStore:
    """A model of its own with versions 1 and 2 and no aliases."""
    name = unique_model_name("release_store")
    for c in (1.0, 0.5):
        register_version(mlflow.url, name, c=c)
    return MlflowStore(mlflow.url, name)


def test_the_release_state_round_trips_through_the_tag(store: MlflowStore) -> None:
    assert store.read_state() is None
    state = ReleaseState(
        release_id="r-1",
        strategy="blue_green",
        phase="releasing",
        alias="B",
        candidate="2",
        before=Before({"A": "1", "B": None}, Routing("A", 10, 90)),
        routing=Routing("A", 10, 90),
    )

    store.write_state(state)
    assert store.read_state() == state
    store.write_state(state.evolve(phase="released", live="B"))
    assert store.read_state() == state.evolve(phase="released", live="B")


def test_a_compare_and_set_move_is_idempotent_and_never_overwrites_a_manual_move(store: MlflowStore) -> None:
    assert store.move_alias("A", None, "1") is True
    assert store.move_alias("A", None, "1") is False  # the retry finds it done
    assert store.aliases() == {"A": "1", "B": None}

    with pytest.raises(ConflictError, match="@A is at v1, not v2 as this release expects"):
        store.move_alias("A", "2", "1000")
    assert store.aliases()["A"] == "1"

    assert store.move_alias("A", "1", "2") is True
    assert store.move_alias("A", "2", None) is True  # back to unset: the alias is removed
    assert store.aliases() == {"A": None, "B": None}


def test_versions_and_their_input_example(store: MlflowStore) -> None:
    assert store.version_status("2") == READY
    assert store.version_status("99") is None
    rows = store.input_example("1")
    assert rows is not None
    assert len(rows) == 1
    assert len(rows[0]) == 4
    assert store.input_example("99") is None


@pytest.mark.parametrize(
    ("raw", "rows"),
    [
        ([[1.0, 2]], [[1.0, 2]]),
        ({"columns": ["a", "b"], "data": [[1, 2]]}, [[1, 2]]),
        ({"inputs": [[0.5]]}, [[0.5]]),
        ([1.0, 2.0], [[1.0], [2.0]]),
        ([["x"]], None),
        ({"data": []}, None),
        ("text", None),
    ],
)
def test_example_rows_reads_the_shapes_mlflow_logs(raw: object, rows: list[list[float]] | None) -> None:
    assert example_rows(raw) == rows
