"""SealedSecrets: each sits in a namespace of its env folder, with a scope its placement can unseal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, document_finding
from tooling.infra.k8s import annotations_of, dig, mapping
from tooling.infra.repository import Repository
from tooling.model import ENVIRONMENTS, namespaces

NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"


def check_sealedsecret_namespace(repo: Repository) -> Iterator[Finding]:
    for document in repo.kind("SealedSecret"):
        namespace = dig(document.obj, "metadata", "namespace")
        if document.env is None:
            yield document_finding(
                document,
                "sealedsecret-namespace",
                f"not under an environment folder ({', '.join(ENVIRONMENTS)})",
            )
        elif namespace not in (allowed := namespaces(document.env)):
            yield document_finding(
                document,
                "sealedsecret-namespace",
                f"namespace {namespace!r} is not one of {document.env}'s namespaces {allowed}",
            )


def sealing_scope(annotated: dict[str, Any]) -> str | None:
    """strict, namespace-wide or cluster-wide from the annotations; None when they contradict each other."""
    wide = [
        scope
        for scope, key in (("namespace-wide", NAMESPACE_WIDE), ("cluster-wide", CLUSTER_WIDE))
        if str(annotated.get(key, "")).lower() == "true"
    ]
    return None if len(wide) > 1 else (wide[0] if wide else "strict")


def check_sealedsecret_scope(repo: Repository) -> Iterator[Finding]:
    """The scope a SealedSecret declares must match how it is placed, or the controller cannot unseal it."""
    for document in repo.kind("SealedSecret"):
        obj = document.obj
        scope = sealing_scope(annotations_of(obj))
        template_metadata = mapping(dig(obj, "spec", "template", "metadata"))
        if scope is None:
            yield document_finding(
                document, "sealedsecret-scope", "both namespace-wide and cluster-wide are set"
            )
            continue
        if template_metadata and sealing_scope(mapping(template_metadata.get("annotations"))) != scope:
            yield document_finding(
                document,
                "sealedsecret-scope",
                f"metadata says {scope} but spec.template.metadata.annotations disagree",
            )
        if scope == "cluster-wide":
            continue
        if not dig(obj, "metadata", "namespace"):
            yield document_finding(
                document,
                "sealedsecret-scope",
                f"a {scope} SealedSecret needs metadata.namespace: it only unseals in that namespace",
            )
        for field in ("namespace",) if scope == "namespace-wide" else ("namespace", "name"):
            bound, declared = dig(obj, "metadata", field), template_metadata.get(field)
            if declared is not None and declared != bound:
                yield document_finding(
                    document,
                    "sealedsecret-scope",
                    f"a {scope} SealedSecret sealed for {field} {bound!r} cannot produce {declared!r}",
                )


RULES = (
    Rule(
        "sealedsecret-namespace",
        "every SealedSecret sits in a namespace of its env folder",
        check_sealedsecret_namespace,
    ),
    Rule(
        "sealedsecret-scope",
        "a SealedSecret's scope annotation matches its name/namespace placement",
        check_sealedsecret_scope,
    ),
)
