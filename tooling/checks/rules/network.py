"""Network: every platform pod is under a NetworkPolicy that restricts where it may connect, and no egress
rule opens every destination on every port."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, configmaps, manifest_finding, rendered_kind
from tooling.infra.helm import Manifest
from tooling.infra.k8s import container_env, containers, dig, mapping, name_of, pod_spec, sequence
from tooling.infra.repository import Repository

EGRESS_RULE = "networkpolicy-egress"
OPEN_EGRESS_RULE = "networkpolicy-egress-open"
REACH_RULE = "networkpolicy-egress-reaches"
SERVICE_URL = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<service>[a-z0-9-]+)\.(?P<namespace>[a-z0-9-]+)\.svc"
    r"(?:\.cluster\.local)?(?::(?P<port>\d+))?"
)
"""An in-cluster Service URL, ``<scheme>://<service>.<namespace>.svc[.cluster.local][:port]``."""


def selects(policy: dict[str, Any], labels: dict[str, Any]) -> bool:
    """Whether a NetworkPolicy's podSelector (matchLabels, matchExpressions) selects pods so labelled."""
    selector = mapping(dig(policy, "spec", "podSelector"))
    if any(labels.get(key) != value for key, value in mapping(selector.get("matchLabels")).items()):
        return False
    for expression in map(mapping, sequence(selector.get("matchExpressions"))):
        key, operator = str(expression.get("key")), expression.get("operator")
        present, values = key in labels, sequence(expression.get("values"))
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def pod_labels(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") == "Pod":
        return mapping(dig(obj, "metadata", "labels"))
    if obj.get("kind") == "CronJob":
        return mapping(dig(obj, "spec", "jobTemplate", "spec", "template", "metadata", "labels"))
    return mapping(dig(obj, "spec", "template", "metadata", "labels"))


def check_pods_restrict_egress(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        policies = [m.obj for m in manifests if m.obj.get("kind") == "NetworkPolicy"]
        for manifest in manifests:
            if pod_spec(manifest.obj) is None:
                continue
            labels = pod_labels(manifest.obj)
            selecting = [policy for policy in policies if selects(policy, labels)]
            if not any("Egress" in sequence(dig(policy, "spec", "policyTypes")) for policy in selecting):
                named = ", ".join(name_of(policy) for policy in selecting) or "none"
                yield manifest_finding(
                    manifest,
                    deployment.namespace,
                    EGRESS_RULE,
                    f"its pods are selected by no NetworkPolicy with Egress in policyTypes (selecting: "
                    f"{named}), so they may connect anywhere",
                )


def opens_every_destination(peer: Any) -> bool:
    cidr = dig(peer, "ipBlock", "cidr")
    if cidr is None:
        return False
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def check_no_open_egress(repo: Repository) -> Iterator[Finding]:
    for deployment, manifest in rendered_kind(repo, "NetworkPolicy"):
        yield from _open_egress_rules(manifest, deployment.namespace)


def _open_egress_rules(manifest: Manifest, namespace: str) -> Iterator[Finding]:
    for index, rule in enumerate(sequence(dig(manifest.obj, "spec", "egress"))):
        rule = mapping(rule)
        if sequence(rule.get("ports")):
            continue
        peers = sequence(rule.get("to"))
        if not peers or any(opens_every_destination(peer) for peer in peers):
            yield manifest_finding(
                manifest,
                namespace,
                OPEN_EGRESS_RULE,
                f"spec.egress[{index}] allows every destination on every port: name the destination's "
                "namespaces or addresses and its ports",
            )


@dataclass(frozen=True)
class Destination:
    """An in-cluster Service a pod calls: its namespace, and what an egress port may say to cover it (the pod
    port behind the Service's port, by number and by name, as far as the rendered Services tell)."""

    url: str
    namespace: str
    ports: frozenset[int | str]


def destination(repo: Repository, match: re.Match[str]) -> Destination:
    namespace = match["namespace"]
    port = int(match["port"]) if match["port"] else (443 if match["scheme"].endswith("https") else 80)
    targets: set[int | str] = {port}
    for deployment, manifests in repo.rendered.items():
        if deployment.namespace != namespace:
            continue
        for service in (m.obj for m in manifests if m.obj.get("kind") == "Service"):
            for entry in map(mapping, sequence(dig(service, "spec", "ports"))):
                if name_of(service) == match["service"] and entry.get("port") == port:
                    targets = {entry.get("targetPort", port)}
        named = {target for target in targets if isinstance(target, str)}
        for manifest in manifests:
            spec = pod_spec(manifest.obj)
            for container in containers(spec) if spec is not None else ():
                for container_port in map(mapping, sequence(container.get("ports"))):
                    if container_port.get("name") in named:
                        targets.add(int(container_port["containerPort"]))
    return Destination(match[0], namespace, frozenset(targets))


def peer_namespace(peer: dict[str, Any], own_namespace: str) -> str | None:
    """The namespace an egress peer names (a bare podSelector is the policy's own), or None."""
    if "namespaceSelector" in peer:
        name = dig(peer, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")
        return str(name) if name else None
    return own_namespace if "podSelector" in peer else None


def egress_allows(policy: dict[str, Any], own_namespace: str, target: Destination) -> bool:
    for rule in map(mapping, sequence(dig(policy, "spec", "egress"))):
        peers = list(map(mapping, sequence(rule.get("to"))))
        reaches = not peers or any(peer_namespace(peer, own_namespace) == target.namespace for peer in peers)
        ports = [mapping(port).get("port") for port in sequence(rule.get("ports"))]
        if reaches and (not ports or any(port in target.ports for port in ports)):
            return True
    return False


def check_egress_reaches_configured_services(repo: Repository) -> Iterator[Finding]:
    """Every in-cluster Service a container is configured to call (a URL in its env) is one its NetworkPolicy
    lets it reach: the Service's namespace, on the pod port behind the Service's port."""
    for deployment, manifests in repo.rendered.items():
        policies = [m.obj for m in manifests if m.obj.get("kind") == "NetworkPolicy"]
        maps = configmaps(manifests)
        for manifest in manifests:
            spec = pod_spec(manifest.obj)
            if spec is None:
                continue
            selecting = [policy for policy in policies if selects(policy, pod_labels(manifest.obj))]
            if not any("Egress" in sequence(dig(policy, "spec", "policyTypes")) for policy in selecting):
                continue  # networkpolicy-egress reports it
            for container in containers(spec):
                for variable, value in sorted(container_env(container, maps).items()):
                    for match in SERVICE_URL.finditer(value or ""):
                        target = destination(repo, match)
                        if not any(egress_allows(p, deployment.namespace, target) for p in selecting):
                            numbers = sorted(port for port in target.ports if isinstance(port, int))
                            names = sorted(port for port in target.ports if isinstance(port, str))
                            ports = ", ".join(map(str, numbers)) + (f" ({', '.join(names)})" if names else "")
                            yield manifest_finding(
                                manifest,
                                deployment.namespace,
                                REACH_RULE,
                                f"container {container.get('name')} calls {target.url} ({variable}), but no "
                                f"egress rule allows namespace {target.namespace} on port {ports}",
                            )


RULES = (
    Rule(
        EGRESS_RULE,
        "every platform pod is selected by a NetworkPolicy that restricts its egress",
        check_pods_restrict_egress,
    ),
    Rule(
        OPEN_EGRESS_RULE,
        "no egress rule allows every destination on every port",
        check_no_open_egress,
    ),
    Rule(
        REACH_RULE,
        "every in-cluster Service a pod is configured to call is one its egress allows",
        check_egress_reaches_configured_services,
    ),
)
