"""Pure helpers that read Kubernetes objects: pod specs, containers, their env and the secrets they use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
CERT_MANAGER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
FROM_SECRET = None
"""An env value that comes from a Secret: known to exist, unknown in content."""


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dig(obj: Any, *path: str) -> Any:
    for key in path:
        obj = mapping(obj).get(key)
    return obj


def name_of(obj: Any) -> str:
    return str(dig(obj, "metadata", "name") or "")


def annotations_of(obj: Any) -> dict[str, Any]:
    return mapping(dig(obj, "metadata", "annotations"))


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    kind = obj.get("kind")
    if kind == "Pod":
        return mapping(obj.get("spec"))
    if kind in POD_TEMPLATE_KINDS:
        return mapping(dig(obj, "spec", "template", "spec"))
    if kind == "CronJob":
        return mapping(dig(obj, "spec", "jobTemplate", "spec", "template", "spec"))
    return None


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in ("initContainers", "containers", "ephemeralContainers"):
        yield from (mapping(container) for container in sequence(spec.get(group)))


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str | None
    via: str


def secret_refs(spec: dict[str, Any]) -> Iterator[SecretRef]:
    """Every Secret a pod spec needs: envFrom, secretKeyRef, volumes (also projected), imagePullSecrets."""
    for container in containers(spec):
        for source in sequence(container.get("envFrom")):
            if name := dig(source, "secretRef", "name"):
                yield SecretRef(str(name), None, f"envFrom.secretRef of container {container.get('name')}")
        for variable in sequence(container.get("env")):
            ref = dig(variable, "valueFrom", "secretKeyRef")
            if ref and mapping(ref).get("name"):
                via = f"env {mapping(variable).get('name')} of container {container.get('name')}"
                yield SecretRef(str(ref["name"]), str(ref.get("key")) if ref.get("key") else None, via)
    for volume in sequence(spec.get("volumes")):
        if name := dig(volume, "secret", "secretName"):
            yield SecretRef(str(name), None, f"volume {mapping(volume).get('name')}")
        for source in sequence(dig(volume, "projected", "sources")):
            if name := dig(source, "secret", "name"):
                yield SecretRef(str(name), None, f"projected volume {mapping(volume).get('name')}")
    for pull in sequence(spec.get("imagePullSecrets")):
        if name := mapping(pull).get("name"):
            yield SecretRef(str(name), None, "imagePullSecrets")


def container_env(container: dict[str, Any], configmaps: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """The variables a container sees: envFrom ConfigMaps (rendered alongside), then env; secrets → None."""
    env: dict[str, str | None] = {}
    for source in sequence(container.get("envFrom")):
        prefix = str(mapping(source).get("prefix") or "")
        if name := dig(source, "configMapRef", "name"):
            data = mapping(configmaps.get(str(name), {}).get("data"))
            env.update({prefix + key: str(value) for key, value in data.items()})
    for variable in sequence(container.get("env")):
        variable = mapping(variable)
        if "value" in variable:
            env[str(variable.get("name"))] = str(variable["value"])
        elif key_ref := dig(variable, "valueFrom", "configMapKeyRef"):
            data = mapping(configmaps.get(str(mapping(key_ref).get("name")), {}).get("data"))
            value = data.get(str(mapping(key_ref).get("key")))
            env[str(variable.get("name"))] = None if value is None else str(value)
        else:
            env[str(variable.get("name"))] = FROM_SECRET
    return env


def is_cert_manager_tls(ingress: dict[str, Any]) -> bool:
    return any(annotation in annotations_of(ingress) for annotation in CERT_MANAGER_ANNOTATIONS)
