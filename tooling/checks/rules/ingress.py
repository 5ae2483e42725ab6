"""Ingress: every Ingress uses its own environment's controller and only the annotations the charts need; prod
admits only whitelisted networks, over TLS for every host."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from tooling.checks.findings import Finding
from tooling.checks.rules.base import (
    Rule,
    application_env,
    application_sources,
    applications,
    document_finding,
    helm_values,
    manifest_finding,
    rendered_kind,
)
from tooling.infra.k8s import annotations_of, dig, mapping, sequence
from tooling.infra.repository import Document, Repository
from tooling.model import PROD

WHITELIST = "nginx.ingress.kubernetes.io/whitelist-source-range"
CONTROLLER_CHART = "ingress-nginx"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
"""The class an Ingress names the old way; ingress-nginx still reads it, so it is held like the spec's."""
ALLOWED_ANNOTATIONS = frozenset(
    {
        WHITELIST,
        "nginx.ingress.kubernetes.io/ssl-redirect",
        "nginx.ingress.kubernetes.io/proxy-body-size",
        "cert-manager.io/cluster-issuer",
    }
)
"""What the charts' Ingresses set: the client whitelist, the TLS redirect, the body limit, the issuer."""


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


def _controller_classes(repo: Repository) -> Iterator[tuple[Document, str | None, str]]:
    """Each ingress-nginx controller Application, its environment and the IngressClass it creates."""
    for document in applications(repo):
        if not any(source.get("chart") == CONTROLLER_CHART for source in application_sources(document.obj)):
            continue
        for values in helm_values(document.obj):
            name = dig(values, "controller", "ingressClassResource", "name")
            if name:
                yield document, application_env(document.obj), str(name)


def check_ingress_class_per_env(repo: Repository) -> Iterator[Finding]:
    """An Ingress is served by its own environment's controller: the IngressClass that environment's
    ingress-nginx Application creates (``controller.ingressClassResource.name``), as pools come from the
    environment's MetalLB folder. Any other class, or one two environments' controllers share, would let
    main's dev values put dev's workloads on prod's controller (its address, its clients)."""
    controllers = list(_controller_classes(repo))
    classes: dict[str | None, set[str]] = {}
    for _, env, name in controllers:
        classes.setdefault(env, set()).add(name)
    for document, env, name in controllers:
        others = sorted(str(other) for other, names in classes.items() if other != env and name in names)
        if env is None:
            yield document_finding(
                document,
                "ingress-class-per-env",
                f"cannot tell which environment this controller serves, so class {name!r} cannot be checked",
            )
        elif others:
            yield document_finding(
                document,
                "ingress-class-per-env",
                f"IngressClass {name!r} is also created for {others}: each environment's controller owns "
                "its own",
            )
    for deployment, manifest in rendered_kind(repo, "Ingress"):
        own = sorted(classes.get(deployment.env, set()))
        named = {
            "spec.ingressClassName": dig(manifest.obj, "spec", "ingressClassName"),
            CLASS_ANNOTATION: annotations_of(manifest.obj).get(CLASS_ANNOTATION),
        }
        if named["spec.ingressClassName"] is None:
            yield manifest_finding(
                manifest,
                deployment.namespace,
                "ingress-class-per-env",
                f"names no spec.ingressClassName: it must be {deployment.env}'s class {own}",
            )
        for where, value in named.items():
            if value is not None and str(value) not in own:
                yield manifest_finding(
                    manifest,
                    deployment.namespace,
                    "ingress-class-per-env",
                    f"{where} {value!r} is not {deployment.env}'s ingress class {own} (its ingress-nginx "
                    "controller Application)",
                )


def check_ingress_annotations(repo: Repository) -> Iterator[Finding]:
    """Every annotation of every rendered Ingress (fastapi, mlflow, airflow) is in ``ALLOWED_ANNOTATIONS``.

    An allowlist, because ingress-nginx reads about a hundred annotations and a list of the dangerous ones
    would miss the next. Among those it refuses: ones that rewrite or redirect a path (``rewrite-target``,
    ``use-regex``, ``app-root``, ``permanent-redirect``, ``temporal-redirect``), so /predict could reach an
    operator route like /variant/A/reload; ones that inject nginx configuration (``configuration-snippet``,
    ``server-snippet``, ``stream-snippet``, ``auth-snippet``); ones that send traffic or a copy of it
    elsewhere (``mirror-target``, ``mirror-uri``, ``upstream-vhost``, ``default-backend``, ``canary``,
    ``auth-url``); and ``kubernetes.io/ingress.class``. Every key counts, whatever its prefix. An annotation a
    chart comes to need is added to the list, in review, with its reason.
    """
    for deployment, manifest in rendered_kind(repo, "Ingress"):
        for annotation in sorted(set(annotations_of(manifest.obj)) - ALLOWED_ANNOTATIONS):
            yield manifest_finding(
                manifest,
                deployment.namespace,
                "ingress-annotations-allowed",
                f"annotation {annotation} is not one Ingresses may set (ALLOWED_ANNOTATIONS, {__name__}): "
                "it could rewrite, redirect or reconfigure what a path reaches",
            )


RULES = (
    Rule(
        "prod-ingress-whitelist",
        "prod Ingresses admit only whitelisted networks",
        check_prod_ingress_whitelist,
    ),
    Rule("prod-ingress-tls", "prod Ingresses serve every host over TLS", check_prod_ingress_tls),
    Rule(
        "ingress-class-per-env",
        "every Ingress uses the IngressClass of its own environment's ingress-nginx controller",
        check_ingress_class_per_env,
    ),
    Rule(
        "ingress-annotations-allowed",
        "Ingresses set only the annotations the charts need: nothing rewrites, redirects or injects config",
        check_ingress_annotations,
    ),
)
