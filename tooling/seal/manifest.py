"""The SealedSecret object ``kubeseal -o yaml`` writes, and where this repository keeps it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tooling.model import SEALED_SECRETS_DIR
from tooling.seal.crypto import Scope

SCOPE_ANNOTATIONS = {
    Scope.STRICT: {},
    Scope.NAMESPACE_WIDE: {"sealedsecrets.bitnami.com/namespace-wide": "true"},
    Scope.CLUSTER_WIDE: {"sealedsecrets.bitnami.com/cluster-wide": "true"},
}


def sealed_secret(name: str, namespace: str, scope: Scope, encrypted: dict[str, str]) -> dict[str, Any]:
    """A SealedSecret whose Secret keeps the name, namespace and scope annotation it was sealed for."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if SCOPE_ANNOTATIONS[scope]:
        metadata["annotations"] = dict(SCOPE_ANNOTATIONS[scope])
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": metadata,
        "spec": {
            "encryptedData": dict(sorted(encrypted.items())),
            "template": {"metadata": dict(metadata), "type": "Opaque"},
        },
    }


def scope_of(obj: dict[str, Any]) -> Scope:
    annotations = obj.get("metadata", {}).get("annotations") or {}
    for scope, marks in SCOPE_ANNOTATIONS.items():
        if marks and all(annotations.get(key) == value for key, value in marks.items()):
            return scope
    return Scope.STRICT


def path_for(root: Path, env: str, namespace: str, name: str) -> Path:
    return root / SEALED_SECRETS_DIR / env / f"{namespace}--{name}.yaml"


def certificate_path(root: Path, env: str) -> Path:
    return root / SEALED_SECRETS_DIR / env / "cert.pem"


def dump(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=False, width=1_000_000)
