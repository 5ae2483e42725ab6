"""What the app agrees to load, decided before a byte of the model is deserialized.

Pure policy: where a version's files may come from, which serialization formats may be loaded, which types a
skops file may hold, and what a smoke prediction must look like to be answerable. The loader does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

ALLOW_SETTING = "ALLOW_CODE_EXECUTING_MODELS"
STORE_SCHEME = "mlflow-artifacts"
"""The tracking server's proxied artifact store: such a location without a host is the registry's own."""

TRUSTED_SKOPS_TYPES: tuple[str, ...] = ()
"""Types a skops file may hold beyond skops' own defaults (scikit-learn's estimators, numpy, scipy); the app
decides this list, never the model's MLmodel (whose ``skops_trusted_types`` the model's author writes)."""

_SKOPS = "skops"
_MOST_TYPES_NAMED = 5


@dataclass(frozen=True)
class ModelFormat:
    """How a version is serialized, as its MLmodel says; ``skops_file`` is set for skops sklearn models."""

    description: str
    runs_code: bool
    skops_file: str | None = None


def model_format(flavors: Mapping[str, Any]) -> ModelFormat:
    """The format of a model from its MLmodel's flavors, read as data (nothing imported, nothing loaded)."""
    sklearn = flavors.get("sklearn")
    if isinstance(sklearn, Mapping):
        serialization = str(sklearn.get("serialization_format") or "pickle")
        if serialization == _SKOPS and isinstance(sklearn.get("pickled_model"), str):
            return ModelFormat("sklearn model serialized with skops", False, sklearn["pickled_model"])
        return ModelFormat(f"sklearn model serialized with {serialization}", True)
    pyfunc = flavors.get("python_function")
    if isinstance(pyfunc, Mapping):
        if "model_code_path" in pyfunc:
            return ModelFormat("python_function model from code", True)
        if "python_model" in pyfunc:
            return ModelFormat("python_function model with a cloudpickled python_model", True)
        return ModelFormat(f"python_function model loaded by {pyfunc.get('loader_module')}", True)
    names = ", ".join(sorted(str(name) for name in flavors)) or "none"
    return ModelFormat(f"model of flavor(s) {names}", True)


def format_refusal(version: str, found: ModelFormat, allow_code: bool) -> str | None:
    """One line refusing a format whose loading runs code, unless the operator opted in; None: loadable."""
    if not found.runs_code or allow_code:
        return None
    return (
        f"version {version} is a {found.description}, whose loading runs code: refused "
        f"(set {ALLOW_SETTING}=true to load such models)"
    )


def location_refusal(version: str, artifact_uri: str) -> str | None:
    """One line refusing files outside the registry's own artifact store; None: in the store.

    Only the location's scheme is named: a foreign URI may carry credentials or an attacker's host.
    """
    parts = urlsplit(artifact_uri)
    if parts.scheme == STORE_SCHEME and not parts.netloc:
        return None
    where = f"a {parts.scheme}: location" if parts.scheme else "a local path"
    return f"version {version}'s files are at {where}, outside the registry's artifact store: refused"


def untrusted_refusal(version: str, found_types: Iterable[str]) -> str | None:
    """One line naming the skops types the app does not trust; None: every type is trusted."""
    untrusted = sorted(set(found_types) - set(TRUSTED_SKOPS_TYPES))
    if not untrusted:
        return None
    named = ", ".join(untrusted[:_MOST_TYPES_NAMED])
    more = f" and {len(untrusted) - _MOST_TYPES_NAMED} more" if len(untrusted) > _MOST_TYPES_NAMED else ""
    return f"version {version}'s skops file holds types the app does not trust: {named}{more}: refused"


def to_json(content: Any) -> bytes:
    """The app's one JSON encoding: every API response, and the smoke test's proof an answer can be sent."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def output_refusal(version: str, output: Any) -> str | None:
    """One line refusing a smoke prediction the API could not answer faithfully as JSON; None: it can.

    The encoder turns NaN and infinities into null, so a null anywhere is refused too: no prediction is null.
    """
    try:
        decoded = orjson.loads(to_json(output))
    except orjson.JSONEncodeError as error:
        return f"version {version}'s smoke prediction cannot be encoded as JSON ({error})"
    if _has_null(decoded):
        return f"version {version}'s smoke prediction holds null, NaN or infinity, which JSON cannot answer"
    return None


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, list):
        return any(_has_null(item) for item in value)
    if isinstance(value, dict):
        return any(_has_null(item) for item in value.values())
    return False
