"""The repository's own consistency rules over the rendered charts (issue 3), as pure functions."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from scripts.platform import mlflow_service_url
from scripts.validate.findings import Finding
from scripts.validate.k8s import (
    SecretRef,
    annotations_of,
    container_env,
    containers,
    dig,
    is_cert_manager_tls,
    mapping,
    name_of,
    pod_spec,
    secret_refs,
    sequence,
)
from scripts.validate.render import Manifest
from scripts.validate.repo import Repository, object_label

WHITELIST = "nginx.ingress.kubernetes.io/whitelist-source-range"
APP_PORT = 8000
PROD = "prod"


def _finding(manifest: Manifest, namespace: str, rule: str, reason: str) -> Finding:
    return Finding(manifest.source, object_label(manifest.obj, namespace), rule, reason)


def sealed_secrets(repo: Repository, env: str) -> dict[tuple[str, str], set[str]]:
    """(namespace, name) → keys, for every SealedSecret under ``sealed-secrets/<env>/``."""
    sealed: dict[tuple[str, str], set[str]] = {}
    for document in repo.kind("SealedSecret"):
        if document.path.startswith("sealed-secrets/") and document.env == env:
            spec = mapping(document.obj.get("spec"))
            keys = set(mapping(spec.get("encryptedData"))) | set(mapping(dig(spec, "template", "data")))
            sealed[(str(dig(document.obj, "metadata", "namespace") or ""), name_of(document.obj))] = keys
    return sealed


def check_secret_sealed(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        sealed = sealed_secrets(repo, deployment.env)
        where = f"sealed-secrets/{deployment.env}/"
        for manifest in manifests:
            namespace = str(dig(manifest.obj, "metadata", "namespace") or deployment.namespace)
            spec = pod_spec(manifest.obj)
            refs = list(secret_refs(spec)) if spec is not None else []
            if manifest.obj.get("kind") == "Ingress" and not is_cert_manager_tls(manifest.obj):
                refs += [ref for tls in sequence(dig(manifest.obj, "spec", "tls")) if (ref := _tls_ref(tls))]
            for ref in refs:
                keys = sealed.get((namespace, ref.name))
                if keys is None:
                    yield _finding(
                        manifest,
                        namespace,
                        "secret-sealed",
                        f"{ref.via} uses Secret {ref.name!r}: no SealedSecret {namespace}/{ref.name} "
                        f"in {where}",
                    )
                elif ref.key is not None and ref.key not in keys:
                    yield _finding(
                        manifest,
                        namespace,
                        "secret-sealed",
                        f"{ref.via} uses key {ref.key!r} of Secret {ref.name!r}: the SealedSecret in "
                        f"{where} has no such key",
                    )


def _tls_ref(tls: Any) -> SecretRef | None:
    name = mapping(tls).get("secretName")
    return (
        SecretRef(str(name), None, "Ingress TLS without a cert-manager issuer annotation") if name else None
    )


def check_prod_ingress_whitelist(repo: Repository) -> Iterator[Finding]:
    for deployment, manifest in _rendered_kind(repo, "Ingress", env=PROD):
        ranges = str(annotations_of(manifest.obj).get(WHITELIST) or "").strip()
        if not ranges:
            yield _finding(
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
                yield _finding(
                    manifest,
                    deployment.namespace,
                    "prod-ingress-whitelist",
                    f"{WHITELIST} entry {cidr!r} is not an IP network",
                )
                continue
            if network.prefixlen == 0:
                yield _finding(
                    manifest,
                    deployment.namespace,
                    "prod-ingress-whitelist",
                    f"{WHITELIST} entry {cidr} admits every address",
                )


def check_prod_ingress_tls(repo: Repository) -> Iterator[Finding]:
    for deployment, manifest in _rendered_kind(repo, "Ingress", env=PROD):
        spec = mapping(manifest.obj.get("spec"))
        covered = {host for tls in sequence(spec.get("tls")) for host in sequence(mapping(tls).get("hosts"))}
        hosts = [mapping(rule).get("host") for rule in sequence(spec.get("rules"))]
        if not covered:
            yield _finding(manifest, deployment.namespace, "prod-ingress-tls", "prod Ingress has no spec.tls")
        for host in hosts:
            if covered and host not in covered:
                yield _finding(
                    manifest,
                    deployment.namespace,
                    "prod-ingress-tls",
                    f"host {host!r} is not covered by spec.tls",
                )


def check_mlflow_uri(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        if deployment.component not in ("fastapi", "airflow"):
            continue
        expected = mlflow_service_url(deployment.env)
        configmaps = _configmaps(manifests)
        seen = False
        for manifest in manifests:
            spec = pod_spec(manifest.obj)
            for container in containers(spec) if spec is not None else ():
                value = container_env(container, configmaps).get("MLFLOW_TRACKING_URI", "<unset>")
                if value == "<unset>":
                    continue
                seen = True
                if value != expected:
                    yield _finding(
                        manifest,
                        deployment.namespace,
                        "mlflow-uri",
                        f"container {container.get('name')} has MLFLOW_TRACKING_URI={value!r}, "
                        f"not {deployment.env}'s MLflow {expected}",
                    )
        if not seen and manifests:
            yield Finding(
                f"charts/{deployment.component}",
                deployment.release,
                "mlflow-uri",
                f"no container sets MLFLOW_TRACKING_URI (expected {expected})",
            )


def check_app_settings(repo: Repository) -> Iterator[Finding]:
    settings = repo.app_settings
    if settings is None:
        return
    for deployment, manifest, container, env in _app_containers(repo):
        where = f"container {container.get('name')}"
        for missing in sorted(set(settings.fields) - set(env)):
            yield _finding(
                manifest,
                deployment.namespace,
                "app-settings",
                f"{where} does not set {missing}, which the app reads ({settings.source})",
            )
        for unused in sorted(set(env) - set(settings.fields)):
            yield _finding(
                manifest,
                deployment.namespace,
                "app-settings",
                f"{where} sets {unused}, which the app never reads ({settings.source})",
            )


def check_app_values(repo: Repository) -> Iterator[Finding]:
    settings = repo.app_settings
    if settings is None:
        return
    for deployment, manifest, _container, env in _app_containers(repo):
        known = {name: value for name, value in env.items() if value is not None and name in settings.fields}
        for problem in settings.problems(known):
            yield _finding(manifest, deployment.namespace, "app-values", problem)


def check_no_plain_secret(repo: Repository) -> Iterator[Finding]:
    reason = (
        "a plain Secret would put its value in git: seal it (scripts/seal.py) or let cert-manager issue it"
    )
    for document in repo.documents:
        if isinstance(document.obj, dict) and document.obj.get("kind") == "Secret":
            yield Finding(document.path, object_label(document.obj), "no-plain-secret", reason)
    for deployment, manifests in repo.rendered.items():
        for manifest in manifests:
            if manifest.obj.get("kind") == "Secret":
                yield _finding(manifest, deployment.namespace, "no-plain-secret", reason)


def check_prod_image_tags(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        if deployment.env != PROD:
            continue
        for manifest in manifests:
            spec = pod_spec(manifest.obj)
            for container in containers(spec) if spec is not None else ():
                image = str(container.get("image") or "")
                problem = image_tag_problem(image)
                if problem:
                    yield _finding(
                        manifest,
                        deployment.namespace,
                        "prod-image-tag",
                        f"container {container.get('name')} image {image!r} {problem}",
                    )


def image_tag_problem(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag"
    tag = last.rsplit(":", 1)[1]
    return "uses the moving tag 'latest'" if tag in ("", "latest") else None


def _rendered_kind(repo: Repository, kind: str, env: str | None = None) -> Iterator[tuple[Any, Manifest]]:
    for deployment, manifests in repo.rendered.items():
        if env is None or deployment.env == env:
            yield from ((deployment, manifest) for manifest in manifests if manifest.obj.get("kind") == kind)


def _configmaps(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {name_of(m.obj): m.obj for m in manifests if m.obj.get("kind") == "ConfigMap"}


def _app_containers(
    repo: Repository,
) -> Iterator[tuple[Any, Manifest, dict[str, Any], dict[str, str | None]]]:
    """The serving app's container in each fastapi Deployment: the one listening on the app's port."""
    for deployment, manifest in _rendered_kind(repo, "Deployment"):
        if deployment.component != "fastapi":
            continue
        configmaps = _configmaps(repo.rendered[deployment])
        main = [mapping(c) for c in sequence(dig(manifest.obj, "spec", "template", "spec", "containers"))]
        app = [
            c
            for c in main
            if any(mapping(p).get("containerPort") == APP_PORT for p in sequence(c.get("ports")))
        ]
        for container in app or main[:1]:
            yield deployment, manifest, container, container_env(container, configmaps)
