"""Network: every platform pod is under a NetworkPolicy that restricts where it may connect, and no egress
rule opens every destination on every port."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, manifest_finding, rendered_kind
from tooling.infra.helm import Manifest
from tooling.infra.k8s import dig, mapping, name_of, pod_spec, sequence
from tooling.infra.repository import Repository

EGRESS_RULE = "networkpolicy-egress"
OPEN_EGRESS_RULE = "networkpolicy-egress-open"


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
)
