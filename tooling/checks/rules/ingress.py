"""Ingress: prod admits only whitelisted networks, over TLS for every host."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, manifest_finding, rendered_kind
from tooling.infra.k8s import annotations_of, mapping, sequence
from tooling.infra.repository import Repository
from tooling.model import PROD

WHITELIST = "nginx.ingress.kubernetes.io/whitelist-source-range"


def check_prod_ingress_whitelist(repo: Repository) -> Iterator[Finding]:
    for deployment, manifest in rendered_kind(repo, "Ingress", env=PROD):
        ranges = str(annotations_of(manifest.obj).get(WHITELIST) or "").strip()
        if not ranges:
            yield manifest_finding(
                manifest,
                deployment.namespace,
                "prod-ingress-whitelist",
                f"prod Ingress has no {WHITELIST} annotation",
            )
            continue
        for cidr in (part.strip() for part in ranges.split(",")):
            try:
                network = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                yield manifest_finding(
                    manifest,
                    deployment.namespace,
                    "prod-ingress-whitelist",
                    f"{WHITELIST} entry {cidr!r} is not an IP network",
                )
                continue
            if network.prefixlen == 0:
                yield manifest_finding(
                    manifest,
                    deployment.namespace,
                    "prod-ingress-whitelist",
                    f"{WHITELIST} entry {cidr} admits every address",
                )


def check_prod_ingress_tls(repo: Repository) -> Iterator[Finding]:
    for deployment, manifest in rendered_kind(repo, "Ingress", env=PROD):
        spec = mapping(manifest.obj.get("spec"))
        covered = {host for tls in sequence(spec.get("tls")) for host in sequence(mapping(tls).get("hosts"))}
        hosts = [mapping(rule).get("host") for rule in sequence(spec.get("rules"))]
        if not covered:
            yield manifest_finding(
                manifest, deployment.namespace, "prod-ingress-tls", "prod Ingress has no spec.tls"
            )
        for host in hosts:
            if covered and host not in covered:
                yield manifest_finding(
                    manifest,
                    deployment.namespace,
                    "prod-ingress-tls",
                    f"host {host!r} is not covered by spec.tls",
                )


RULES = (
    Rule(
        "prod-ingress-whitelist",
        "prod Ingresses admit only whitelisted networks",
        check_prod_ingress_whitelist,
    ),
    Rule("prod-ingress-tls", "prod Ingresses serve every host over TLS", check_prod_ingress_tls),
)
