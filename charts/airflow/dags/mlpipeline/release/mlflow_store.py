"""The registry store on MLflow: the release state as a registered-model tag, aliases by compare-and-set.

MLflow has no conditional update, so compare-and-set is read, check, write: a writer that moves the alias
between our read and our write (a few milliseconds) is overwritten. The window is narrow and the release
state still records ``before``, so such a move is visible afterwards in ``make release-status``; everything
outside that window (a manual move at any other time during a run) is detected and never overwritten.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow.artifacts
from mlflow.exceptions import MlflowException

from mlpipeline import registry
from mlpipeline.registry import RegistryError
from mlpipeline.release.cas import must_move
from mlpipeline.release.state import ALIASES, TAG, ReleaseState

INPUT_EXAMPLE = "input_example.json"


class MlflowStore:
    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self._uri = tracking_uri
        self._name = model_name
        self._client = registry.client(tracking_uri)

    @property
    def model_name(self) -> str:
        return self._name

    def _model(self) -> Any:
        return registry.registered_model(self._uri, self._name)

    def read_state(self) -> ReleaseState | None:
        model = self._model()
        raw = None if model is None else model.tags.get(TAG)
        return None if raw is None else ReleaseState.from_json(raw)

    def write_state(self, state: ReleaseState) -> None:
        try:
            self._client.set_registered_model_tag(self._name, TAG, state.to_json())
        except MlflowException as error:
            raise RegistryError(f"cannot write {TAG} on {self._name}: {error.error_code}") from None

    def aliases(self) -> dict[str, str | None]:
        model = self._model()
        found = {} if model is None else dict(model.aliases or {})
        return {alias: None if found.get(alias) is None else str(found[alias]) for alias in ALIASES}

    def move_alias(self, alias: str, expected: str | None, new: str | None) -> bool:
        current = registry.alias_version(self._uri, self._name, alias)
        if not must_move(alias, current, expected, new):
            return False
        # The compare-and-set window is here, between the read above and this write (see the module doc).
        try:
            if new is None:
                self._client.delete_registered_model_alias(self._name, alias)
            else:
                self._client.set_registered_model_alias(self._name, alias, new)
        except MlflowException as error:
            raise RegistryError(f"cannot move {self._name}@{alias} to {new}: {error.error_code}") from None
        return True

    def version_status(self, version: str) -> str | None:
        try:
            return str(self._client.get_model_version(self._name, version).status)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise RegistryError(f"cannot read {self._name} v{version}: {error.error_code}") from None

    def input_example(self, version: str) -> list[list[Any]] | None:
        """The rows of the logged ``input_example.json`` (a list of rows, or pandas' split orient)."""
        with tempfile.TemporaryDirectory() as directory:
            try:
                path = mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{self._name}/{version}/{INPUT_EXAMPLE}",
                    dst_path=directory,
                    tracking_uri=self._uri,
                )
                raw = json.loads(Path(path).read_text())
            except (MlflowException, OSError, ValueError):
                return None
        return example_rows(raw)


def example_rows(raw: object) -> list[list[Any]] | None:
    """Rows of numbers from an input example's JSON, None when it is not such a table."""
    if isinstance(raw, dict):
        raw = raw.get("data", raw.get("inputs"))
    if not isinstance(raw, list) or not raw:
        return None
    rows = [row if isinstance(row, list) else [row] for row in raw]
    if all(row and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row) for row in rows):
        return rows
    return None
