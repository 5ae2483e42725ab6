"""Pod security: every platform namespace enforces Pod Security Admission's `restricted` profile, and every
pod the charts render would be admitted by it (the validator refuses what the API server would)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, document_finding, manifest_finding
from tooling.infra.k8s import dig, mapping, name_of, pod_spec, sequence
from tooling.infra.repository import Repository
from tooling.model import ENVIRONMENTS, KUBE_VERSION, SEALED_SECRETS_DIR, namespaces

NAMESPACE_RULE = "namespace-pod-security"
POD_RULE = "pod-security-restricted"
PSA = "pod-security.kubernetes.io/"
ENFORCED_VERSION = "v" + ".".join(KUBE_VERSION.split(".")[:2])
"""The profile is enforced as of the Kubernetes version the charts are validated for."""
REQUIRED_LABELS = {
    f"{PSA}enforce": "restricted",
    f"{PSA}enforce-version": ENFORCED_VERSION,
    f"{PSA}audit": "restricted",
    f"{PSA}warn": "restricted",
}
VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected"}
    | {"secret"}
)
"""The volume types `restricted` admits (everything but these, hostPath first, is refused)."""
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")


def check_namespace_labels(repo: Repository) -> Iterator[Finding]:
    declared = {name_of(document.obj): document for document in repo.kind("Namespace")}
    for env in ENVIRONMENTS:
        for name in namespaces(env):
            document = declared.get(name)
            if document is None:
                yield Finding(
                    f"{SEALED_SECRETS_DIR}/{env}/namespaces.yaml",
                    f"Namespace/{name}",
                    NAMESPACE_RULE,
                    "the platform namespace is declared nowhere in git, so it is created without Pod "
                    "Security labels",
                )
                continue
            labels = mapping(dig(document.obj, "metadata", "labels"))
            wrong = [f"{key}={value}" for key, value in REQUIRED_LABELS.items() if labels.get(key) != value]
            if wrong:
                yield document_finding(
                    document, NAMESPACE_RULE, f"the platform namespace lacks the labels {', '.join(wrong)}"
                )


def restricted_problems(spec: dict[str, Any]) -> Iterator[str]:
    """What the `restricted` Pod Security profile refuses in a pod spec, one line each."""
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"{field} is set"
    pod_context = mapping(spec.get("securityContext"))
    for volume in map(mapping, sequence(spec.get("volumes"))):
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            yield f"volume {volume.get('name')} is of type {', '.join(sorted(kinds - VOLUME_TYPES))}"
    if pod_context.get("runAsUser") == 0:
        yield "the pod runs as uid 0"
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in map(mapping, sequence(spec.get(group))):
            yield from (f"container {container.get('name')}: {p}" for p in _container(container, pod_context))


def _container(container: dict[str, Any], pod_context: dict[str, Any]) -> Iterator[str]:
    context = mapping(container.get("securityContext"))
    if context.get("privileged"):
        yield "privileged"
    if context.get("allowPrivilegeEscalation") is not False:
        yield "allowPrivilegeEscalation is not false"
    capabilities = mapping(context.get("capabilities"))
    if "ALL" not in sequence(capabilities.get("drop")):
        yield "capabilities.drop lacks ALL"
    added = [c for c in sequence(capabilities.get("add")) if c != "NET_BIND_SERVICE"]
    if added:
        yield f"adds the capabilities {', '.join(map(str, added))}"
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
        yield "runAsNonRoot is not true"
    if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
        yield "runs as uid 0"
    seccomp = mapping(context.get("seccompProfile")) or mapping(pod_context.get("seccompProfile"))
    if seccomp.get("type") not in SECCOMP_TYPES:
        yield "seccompProfile is not RuntimeDefault or Localhost"
    if any(mapping(port).get("hostPort") for port in sequence(container.get("ports"))):
        yield "uses a hostPort"


def check_pods_restricted(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        for manifest in manifests:
            spec = pod_spec(manifest.obj)
            for problem in restricted_problems(spec) if spec is not None else ():
                yield manifest_finding(
                    manifest,
                    deployment.namespace,
                    POD_RULE,
                    f"Pod Security `restricted` would refuse its pods: {problem}",
                )


RULES = (
    Rule(
        NAMESPACE_RULE,
        "every platform namespace enforces the `restricted` Pod Security profile",
        check_namespace_labels,
    ),
    Rule(POD_RULE, "every rendered pod passes the `restricted` Pod Security profile", check_pods_restricted),
)
