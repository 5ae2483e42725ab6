"""Secrets: every Secret a workload uses is sealed in git for its env; no Secret is ever committed plain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, manifest_finding
from tooling.infra.k8s import (
    SecretRef,
    dig,
    is_cert_manager_tls,
    mapping,
    name_of,
    pod_spec,
    secret_refs,
    sequence,
)
from tooling.infra.repository import Repository, object_label
from tooling.model import SEALED_SECRETS_DIR


def sealed_secrets(repo: Repository, env: str) -> dict[tuple[str, str], set[str]]:
    """(namespace, name) → keys, for every SealedSecret under ``sealed-secrets/<env>/``."""
    sealed: dict[tuple[str, str], set[str]] = {}
    for document in repo.kind("SealedSecret"):
        if document.path.startswith(f"{SEALED_SECRETS_DIR}/") and document.env == env:
            spec = mapping(document.obj.get("spec"))
            keys = set(mapping(spec.get("encryptedData"))) | set(mapping(dig(spec, "template", "data")))
            sealed[(str(dig(document.obj, "metadata", "namespace") or ""), name_of(document.obj))] = keys
    return sealed


def check_secret_sealed(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        sealed = sealed_secrets(repo, deployment.env)
        where = f"{SEALED_SECRETS_DIR}/{deployment.env}/"
        for manifest in manifests:
            namespace = str(dig(manifest.obj, "metadata", "namespace") or deployment.namespace)
            spec = pod_spec(manifest.obj)
            refs = list(secret_refs(spec)) if spec is not None else []
            if manifest.obj.get("kind") == "Ingress" and not is_cert_manager_tls(manifest.obj):
                refs += [ref for tls in sequence(dig(manifest.obj, "spec", "tls")) if (ref := _tls_ref(tls))]
            for ref in refs:
                keys = sealed.get((namespace, ref.name))
                if keys is None:
                    yield manifest_finding(
                        manifest,
                        namespace,
                        "secret-sealed",
                        f"{ref.via} uses Secret {ref.name!r}: no SealedSecret {namespace}/{ref.name} "
                        f"in {where}",
                    )
                elif ref.key is not None and ref.key not in keys:
                    yield manifest_finding(
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


def check_no_plain_secret(repo: Repository) -> Iterator[Finding]:
    reason = "a plain Secret would put its value in git: seal it (make seal) or let cert-manager issue it"
    for document in repo.documents:
        if isinstance(document.obj, dict) and document.obj.get("kind") == "Secret":
            yield Finding(document.path, object_label(document.obj), "no-plain-secret", reason)
    for deployment, manifests in repo.rendered.items():
        for manifest in manifests:
            if manifest.obj.get("kind") == "Secret":
                yield manifest_finding(manifest, deployment.namespace, "no-plain-secret", reason)


RULES = (
    Rule(
        "secret-sealed",
        "every Secret a workload references exists as a SealedSecret of that name, namespace "
        "and env (keys included); cert-manager TLS secrets are exempt",
        check_secret_sealed,
    ),
    Rule(
        "no-plain-secret",
        "a Secret in git (or rendered from values) is a secret in plain text",
        check_no_plain_secret,
    ),
)
