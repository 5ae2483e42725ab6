"""Validate objects against JSON schemas found through kubeconform-style schema locations.

A location is a path template with the placeholders ``{kind}`` (lower-case kind), ``{group}``,
``{version}``, ``{api}`` (``apps-v1``, ``v1`` for the core group: kubernetes-validate's naming) and
``{kube_version}``; the first location with a file for an object wins, and no file anywhere is a finding.
Each schema file is loaded once. Core schemas are the ``*-strict`` ones; CRD schemas (Draft 7) are made
strict here the same way (``additionalProperties: false`` wherever properties are listed and unknown fields
are not preserved), so a typo in a custom resource is caught like one in a Deployment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
from referencing import Registry, Resource

from tooling.model import crd_schemas_dir

DEFINITIONS = "_definitions.json"
MAX_ERRORS_PER_OBJECT = 20
COMBINATORS = frozenset({"anyOf", "allOf", "oneOf", "not"})


BUNDLED = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


def default_locations(repo: Path) -> list[str]:
    return [
        str(BUNDLED / "v{kube_version}-local-strict" / "{kind}-{api}.json"),
        str(crd_schemas_dir(repo) / "{group}" / "{kind}_{version}.json"),
    ]


@dataclass(frozen=True)
class SchemaProblem:
    path: str
    message: str


class SchemaStore:
    def __init__(self, locations: list[str], kube_version: str) -> None:
        self.locations = locations
        self.kube_version = kube_version
        self._validators: dict[Path, jsonschema.protocols.Validator] = {}

    def candidates(self, api_version: str, kind: str) -> list[Path]:
        group, _, version = api_version.rpartition("/")
        api = f"{group.split('.')[0]}-{version}" if group else version
        fields = {"kind": kind.lower(), "group": group, "version": version, "api": api}
        return [
            Path(location.format(kube_version=self.kube_version, **fields))
            for location in self.locations
            if group or "{group}" not in location
        ]

    def validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        for candidate in self.candidates(api_version, kind):
            if candidate in self._validators:
                return self._validators[candidate]
            if candidate.is_file():
                self._validators[candidate] = _load_validator(candidate)
                return self._validators[candidate]
        return None

    def problems(self, obj: dict[str, Any]) -> list[SchemaProblem] | None:
        """Every schema error of ``obj`` (empty when valid); ``None`` when no location has its schema."""
        validator = self.validator(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if validator is None:
            return None
        errors = sorted(validator.iter_errors(obj), key=lambda error: list(map(str, error.absolute_path)))
        return [SchemaProblem(_json_path(error.absolute_path), error.message) for error in errors][
            :MAX_ERRORS_PER_OBJECT
        ]


def bundled_schema_problem(kube_version: str) -> str | None:
    """Why the bundled Kubernetes schemas cannot serve ``kube_version``, or None."""
    if (BUNDLED / f"v{kube_version}-local-strict").is_dir():
        return None
    available = sorted(
        path.name[1:].removesuffix("-local-strict") for path in BUNDLED.glob("v*-local-strict")
    )
    return f"no bundled strict schemas for it (available: {', '.join(available)})"


def location_problem(location: str) -> str | None:
    """Why a schema location template cannot be used, or None."""
    try:
        location.format(kind="k", group="g", version="v", api="a", kube_version="1")
    except (KeyError, IndexError, ValueError) as error:
        return f"unknown or malformed placeholder {error}"
    return None


def _json_path(parts: Any) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)
    return path.lstrip(".") or "(root)"


@cache
def _load_validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    if "$schema" not in schema:
        schema = _strict(schema)
    registry: Registry[Any] = Registry()
    definitions = path.parent / DEFINITIONS
    if definitions.is_file() and path.name != DEFINITIONS:
        registry = _definitions_resource(definitions) @ registry
    return cls(schema, registry=registry)


@cache
def _definitions_resource(path: Path) -> Resource[Any]:
    return Resource.from_contents(json.loads(path.read_text()))


def _strict(schema: Any, close: bool = True) -> Any:
    """Close every object schema that lists its properties and does not preserve unknown fields.

    Branches of ``anyOf``/``allOf``/``oneOf``/``not`` only add constraints to a structural schema, so they
    stay open (closing them would reject fields their siblings declare).
    """
    if isinstance(schema, list):
        return [_strict(item, close) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            closed[key] = {name: _strict(sub, close) for name, sub in value.items()}
        else:
            closed[key] = _strict(value, close and key not in COMBINATORS)
    if (
        close
        and "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed
