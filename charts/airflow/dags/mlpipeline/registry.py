"""The model registry side of the pipeline: register a version, wait for READY, point an alias at it.

An alias is moved with one ``set_registered_model_alias`` call, which MLflow applies atomically: readers see
the old version or the new one, never a missing alias (the seed deleted then set it). The alias moves only
after the version is READY.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

READY = "READY"
FAILED_REGISTRATION = "FAILED_REGISTRATION"


class RegistryError(RuntimeError):
    """A registry operation that failed; the message is one line."""


@dataclass(frozen=True)
class AliasMove:
    model_name: str
    alias: str
    version: str
    previous_version: str | None


def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def alias_version(tracking_uri: str, model_name: str, alias: str) -> str | None:
    """The version ``alias`` points at, or None when the model or the alias does not exist."""
    try:
        return str(client(tracking_uri).get_model_version_by_alias(model_name, alias).version)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        if error.error_code == "PERMISSION_DENIED" and not model_exists(tracking_uri, model_name):
            return None
        raise RegistryError(f"cannot read alias @{alias} of {model_name}: {error.error_code}") from None


def registered_model(tracking_uri: str, model_name: str) -> Any | None:
    """The registered model, or None when it does not exist.

    MLflow's auth app (workspaces on) answers a lookup of a registered model that does not exist with 403, as
    it answers one the user may not read: it resolves no permission for a name it cannot find. A search lists
    only what the user may read, and every user reads every model here, so a 403 with no match is an absent
    model.
    """
    registry = client(tracking_uri)
    try:
        return registry.get_registered_model(model_name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        if error.error_code == "PERMISSION_DENIED" and not _listed(registry, model_name):
            return None
        raise RegistryError(f"cannot read registered model {model_name}: {error.error_code}") from None


def _listed(registry: MlflowClient, model_name: str) -> bool:
    """Whether a search by name finds ``model_name``; a name the filter cannot quote counts as found."""
    quote = next((mark for mark in ("'", '"') if mark not in model_name), None)
    if quote is None:
        return True
    try:
        found = registry.search_registered_models(f"name = {quote}{model_name}{quote}", max_results=1)
    except MlflowException as error:
        raise RegistryError(f"cannot search registered model {model_name}: {error.error_code}") from None
    return any(model.name == model_name for model in found)


def model_exists(tracking_uri: str, model_name: str) -> bool:
    """MLflow's auth app answers an alias lookup on a model that does not exist with 403 (it cannot resolve a
    permission for it); ``registered_model`` tells absent from forbidden."""
    return registered_model(tracking_uri, model_name) is not None


def register(tracking_uri: str, model_name: str, *, model_uri: str, run_id: str, model_id: str) -> str:
    """Create a new version of ``model_name`` (and the registered model on first use); return its number."""
    registry = client(tracking_uri)
    absent = registered_model(tracking_uri, model_name) is None
    try:
        if absent:
            registry.create_registered_model(model_name)
        version = registry.create_model_version(model_name, model_uri, run_id=run_id, model_id=model_id)
    except MlflowException as error:
        raise RegistryError(f"cannot register {model_name} from run {run_id}: {error.error_code}") from None
    return str(version.version)


def is_ready(tracking_uri: str, model_name: str, version: str) -> bool:
    """True once READY, False while PENDING_REGISTRATION; FAILED_REGISTRATION raises (it never recovers)."""
    status = str(client(tracking_uri).get_model_version(model_name, version).status)
    if status == FAILED_REGISTRATION:
        raise RegistryError(f"{model_name} v{version} is {FAILED_REGISTRATION}")
    return status == READY


def move_alias(tracking_uri: str, model_name: str, alias: str, version: str) -> AliasMove:
    """Point ``alias`` at ``version`` in one atomic call; return where it pointed before."""
    previous = alias_version(tracking_uri, model_name, alias)
    try:
        client(tracking_uri).set_registered_model_alias(model_name, alias, version)
    except MlflowException as error:
        raise RegistryError(f"cannot move {model_name}@{alias} to v{version}: {error.error_code}") from None
    return AliasMove(model_name, alias, version, previous)
