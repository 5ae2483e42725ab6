"""The model registry side of the pipeline: register a version, wait for READY, point an alias at it.

An alias is moved with one ``set_registered_model_alias`` call, which MLflow applies atomically: readers see
the old version or the new one, never a missing alias (the seed deleted then set it). The alias moves only
after the version is READY.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def model_exists(tracking_uri: str, model_name: str) -> bool:
    """MLflow's auth app answers an alias lookup on a model that does not exist with 403 (it cannot resolve a
    permission for it); the registered model itself answers 404, which tells absent from forbidden."""
    try:
        client(tracking_uri).get_registered_model(model_name)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise RegistryError(f"cannot read registered model {model_name}: {error.error_code}") from None
    return True


def register(tracking_uri: str, model_name: str, *, model_uri: str, run_id: str, model_id: str) -> str:
    """Create a new version of ``model_name`` (and the registered model on first use); return its number."""
    registry = client(tracking_uri)
    try:
        try:
            registry.get_registered_model(model_name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
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
