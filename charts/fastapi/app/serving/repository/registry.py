"""The model registry, seen from the serving app: the release state tag, an alias's version, its files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import mlflow.artifacts
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException
from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

# mlflow's HTTP client retries for minutes by default; a reload must fail fast and say why.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


RELEASE_TAG = "serving.release"
"""The registered-model tag holding the release state (JSON), written by the release controller only."""


class RegistryError(Exception):
    """The registry could not answer; the message is one line, safe to return (no URI, no credentials)."""


def _failed(error: Exception, doing: str) -> RegistryError:
    """One line for a request the registry did not answer: refused credentials (401) and a denied permission
    (403) say so and name the settings to check, never their values; anything else is unreachable."""
    code = getattr(error, "error_code", None)
    if code == "UNAUTHENTICATED":
        return RegistryError(
            f"{doing}: the registry refused this app's credentials (not authorised: check "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)"
        )
    if code == "PERMISSION_DENIED":
        return RegistryError(f"{doing}: the registry denied this app's user (permission denied)")
    return RegistryError(f"model registry unreachable ({type(error).__name__})")


@dataclass(frozen=True)
class VersionRef:
    model_name: str
    alias: str
    version: str
    run_id: str | None
    status: str
    source: str | None = None
    created_at: int | None = None  # the registry's creation timestamp (ms)

    @property
    def identity(self) -> tuple[str, str | None, str | None, int | None]:
        """What makes two versions the same model: a re-created registered model reuses version numbers, and
        its v1 may even come from the same run and source (the run's files re-logged), but not at the same
        creation time."""
        return self.version, self.run_id, self.source, self.created_at

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


class Registry:
    def __init__(self, tracking_uri: str, model_name: str) -> None:
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def release_tag(self) -> str | None:
        """The raw release state (one read of the registered model: all of the tag or none), None if unset."""
        try:
            model = self._client.get_registered_model(self.model_name)
        except RestException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise RegistryError(f"model {self.model_name} is not in the registry") from None
            raise RegistryError(f"registry refused the model lookup: {error.error_code}") from None
        except (MlflowException, OSError) as error:
            if getattr(error, "error_code", None) == "PERMISSION_DENIED" and not self._listed():
                raise RegistryError(f"model {self.model_name} is not in the registry") from None
            raise _failed(error, f"reading model {self.model_name}") from None
        value = model.tags.get(RELEASE_TAG)
        return None if value is None else str(value)

    def _listed(self) -> bool:
        """MLflow's auth app (workspaces on) answers a lookup of a model that does not exist with 403, as it
        answers one this user may not read; a search lists only what the user may read, and the reader reads
        every model, so no match means the model is absent. A name the filter cannot quote counts as found."""
        quote = next((mark for mark in ("'", '"') if mark not in self.model_name), None)
        if quote is None:
            return True
        try:
            found = self._client.search_registered_models(
                f"name = {quote}{self.model_name}{quote}", max_results=1
            )
        except (MlflowException, OSError) as error:
            raise _failed(error, f"searching model {self.model_name}") from None
        return any(model.name == self.model_name for model in found)

    def resolve(self, alias: str) -> VersionRef:
        try:
            version = self._client.get_model_version_by_alias(self.model_name, alias)
        except RestException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise RegistryError(
                    f"alias @{alias} of model {self.model_name} is not set in the registry"
                ) from None
            raise RegistryError(f"registry refused alias lookup for @{alias}: {error.error_code}") from None
        except (MlflowException, OSError) as error:
            if getattr(error, "error_code", None) == "PERMISSION_DENIED":
                # MLflow's auth app answers 403 for an alias of a model that does not exist: ask the model.
                self.release_tag()
            raise _failed(error, f"resolving @{alias}") from None
        return VersionRef(
            self.model_name,
            alias,
            str(version.version),
            version.run_id,
            str(version.status),
            version.source,
            version.creation_timestamp,
        )

    def locate(self, ref: VersionRef) -> str:
        """Where ``ref``'s files are: the registry's download URI, a ``runs:/`` one resolved to the run's
        own location (a run's experiment may keep its artifacts anywhere): the loader judges it unfetched."""
        try:
            uri = self._client.get_model_version_download_uri(ref.model_name, ref.version)
            if urlsplit(uri).scheme == "runs":
                uri = RunsArtifactRepository.get_underlying_uri(uri, self.tracking_uri)
        except RestException as error:
            message = f"registry refused the location of version {ref.version}: {error.error_code}"
            raise RegistryError(message) from None
        except (MlflowException, OSError) as error:
            raise _failed(error, f"locating version {ref.version}") from None
        return str(uri)

    def download(self, ref: VersionRef, artifact_uri: str, destination: Path) -> Path:
        """Fetch the files at ``artifact_uri``, the location ``locate`` gave and the loader accepted."""
        try:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=artifact_uri, dst_path=str(destination), tracking_uri=self.tracking_uri
            )
        except (MlflowException, OSError) as error:
            if getattr(error, "error_code", None) in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
                raise _failed(error, f"downloading version {ref.version}") from None
            raise RegistryError(
                f"could not download version {ref.version} ({type(error).__name__})"
            ) from None
        return Path(path)
