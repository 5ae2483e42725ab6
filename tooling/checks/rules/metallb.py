"""MetalLB: pools parse and never overlap, L2 advertisements name real pools, every LoadBalancer Service asks
for a pool of its own environment."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from itertools import combinations
from typing import Any

from tooling.checks.findings import Finding
from tooling.checks.rules.base import (
    Rule,
    application_env,
    applications,
    document_finding,
    helm_values,
)
from tooling.infra.k8s import annotations_of, dig, mapping, name_of, sequence
from tooling.infra.repository import Document, Repository, object_label

POOL_ANNOTATION = "metallb.io/address-pool"
IPRange = tuple[int, int, int]
"""(IP version, first address, last address) as integers, so ranges of either family compare simply."""


def pool_ranges(document: Document) -> Iterator[tuple[str, IPRange | None]]:
    """Each address entry of an IPAddressPool and its (first, last) address, None when it does not parse."""
    for entry in sequence(dig(document.obj, "spec", "addresses")):
        text = str(entry)
        try:
            if "-" in text:
                first, last = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
                ordered = first.version == last.version and int(first) <= int(last)
                yield text, ((first.version, int(first), int(last)) if ordered else None)
            else:
                network = ipaddress.ip_network(text, strict=True)
                yield text, (network.version, int(network[0]), int(network[-1]))
        except ValueError:
            yield text, None


def check_pool_parse(repo: Repository) -> Iterator[Finding]:
    for document in repo.kind("IPAddressPool"):
        if not sequence(dig(document.obj, "spec", "addresses")):
            yield document_finding(document, "metallb-pool-parse", "spec.addresses is empty")
        for text, parsed in pool_ranges(document):
            if parsed is None:
                yield document_finding(
                    document,
                    "metallb-pool-parse",
                    f"address {text!r} is neither a CIDR nor an ascending 'first-last' range",
                )


def check_pool_overlap(repo: Repository) -> Iterator[Finding]:
    ranges = [
        (document, text, parsed)
        for document in repo.kind("IPAddressPool")
        for text, parsed in pool_ranges(document)
        if parsed
    ]
    for (doc_a, text_a, (family_a, first_a, last_a)), (
        doc_b,
        text_b,
        (family_b, first_b, last_b),
    ) in combinations(ranges, 2):
        if family_a == family_b and first_a <= last_b and first_b <= last_a:
            yield document_finding(
                doc_b,
                "metallb-pool-overlap",
                f"{text_b} overlaps {text_a} of pool {name_of(doc_a.obj)} ({doc_a.path})",
            )


def _pools_by_env(repo: Repository) -> dict[str | None, set[str]]:
    pools: dict[str | None, set[str]] = {}
    for document in repo.kind("IPAddressPool"):
        pools.setdefault(document.env, set()).add(name_of(document.obj))
    return pools


def check_l2_pools(repo: Repository) -> Iterator[Finding]:
    every_pool = {name for names in _pools_by_env(repo).values() for name in names}
    for document in repo.kind("L2Advertisement"):
        named = sequence(dig(document.obj, "spec", "ipAddressPools"))
        if not named:
            yield document_finding(
                document,
                "metallb-l2-pools",
                "spec.ipAddressPools is empty: it would advertise every pool, of every env",
            )
        for pool in named:
            if pool not in every_pool:
                yield document_finding(
                    document, "metallb-l2-pools", f"names pool {pool!r}, which no IPAddressPool defines"
                )


def check_loadbalancer_pool(repo: Repository) -> Iterator[Finding]:
    """Rendered LoadBalancer Services, and those configured in an Application's Helm values."""
    pools = _pools_by_env(repo)
    for deployment, manifests in repo.rendered.items():
        for manifest in manifests:
            if manifest.obj.get("kind") == "Service" and dig(manifest.obj, "spec", "type") == "LoadBalancer":
                problem = _pool_problem(
                    annotations_of(manifest.obj).get(POOL_ANNOTATION), deployment.env, pools
                )
                if problem:
                    label = object_label(manifest.obj, deployment.namespace)
                    yield Finding(manifest.source, label, "loadbalancer-pool", problem)
    for document in applications(repo):
        env = application_env(document.obj)
        for service in _load_balancers_in_values(helm_values(document.obj)):
            problem = _pool_problem(mapping(service.get("annotations")).get(POOL_ANNOTATION), env, pools)
            if problem:
                yield document_finding(
                    document, "loadbalancer-pool", f"Helm values: LoadBalancer Service {problem}"
                )


def _pool_problem(pool: Any, env: str | None, pools: dict[str | None, set[str]]) -> str | None:
    if not pool:
        return f"asks for no MetalLB pool ({POOL_ANNOTATION})"
    if env is None:
        return f"cannot tell which environment it belongs to, so pool {pool!r} cannot be checked"
    if str(pool) not in pools.get(env, set()):
        return f"asks for pool {pool!r}, which is not one of {env}'s pools {sorted(pools.get(env, set()))}"
    return None


def _load_balancers_in_values(values: Any) -> Iterator[dict[str, Any]]:
    """Any mapping in Helm values that declares ``type: LoadBalancer`` (e.g. ``controller.service``)."""
    if isinstance(values, dict):
        if values.get("type") == "LoadBalancer":
            yield values
        for value in values.values():
            yield from _load_balancers_in_values(value)
    elif isinstance(values, list):
        for value in values:
            yield from _load_balancers_in_values(value)


RULES = (
    Rule("metallb-pool-parse", "MetalLB pool addresses are CIDRs or ascending ranges", check_pool_parse),
    Rule("metallb-pool-overlap", "no two MetalLB pools share an address", check_pool_overlap),
    Rule("metallb-l2-pools", "every L2Advertisement names pools that exist", check_l2_pools),
    Rule(
        "loadbalancer-pool",
        "every LoadBalancer Service asks for a MetalLB pool of its own env",
        check_loadbalancer_pool,
    ),
)
