"""What every rule module shares: the Rule record and helpers that read the rendered and committed objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from tooling.checks.findings import Finding
from tooling.infra.applicationsets import GENERATED
from tooling.infra.helm import Manifest
from tooling.infra.k8s import dig, mapping, name_of, sequence
from tooling.infra.repository import Document, Repository, object_label
from tooling.model import ENVIRONMENTS, Deployment

Check = Callable[[Repository], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """A repository rule: its id (the finding's rule), why it exists in one line, and a pure check.

    Every rule has a mutation case in ``tests/validate/mutations/`` that must trip it.
    """

    id: str
    reason: str
    check: Check


def only(rule_id: str, check: Check) -> Check:
    """The findings of ``check`` with this rule id (one check function can serve two rules)."""

    def filtered(repo: Repository) -> Iterator[Finding]:
        return (finding for finding in check(repo) if finding.rule == rule_id)

    return filtered


def manifest_finding(manifest: Manifest, namespace: str, rule: str, reason: str) -> Finding:
    return Finding(manifest.source, object_label(manifest.obj, namespace), rule, reason)


def document_finding(document: Document, rule: str, reason: str) -> Finding:
    return Finding(document.path, object_label(document.obj), rule, reason)


def rendered_kind(
    repo: Repository, kind: str, env: str | None = None
) -> Iterator[tuple[Deployment, Manifest]]:
    for deployment, manifests in repo.rendered.items():
        if env is None or deployment.env == env:
            yield from ((deployment, manifest) for manifest in manifests if manifest.obj.get("kind") == kind)


def configmaps(manifests: list[Manifest]) -> dict[str, dict[str, Any]]:
    return {name_of(m.obj): m.obj for m in manifests if m.obj.get("kind") == "ConfigMap"}


def applications(repo: Repository) -> Iterator[Document]:
    """Static Applications in git plus the ones the ApplicationSets generate."""
    yield from repo.kind("Application")
    yield from (Document(GENERATED, index, app) for index, app in enumerate(repo.applications))


def application_env(application: dict[str, Any]) -> str | None:
    candidates = [
        str(dig(application, "spec", "project") or ""),
        str(dig(application, "spec", "destination", "namespace") or "").rsplit("-", 1)[-1],
        name_of(application).rsplit("-", 1)[-1],
    ]
    return next((env for env in candidates if env in ENVIRONMENTS), None)


def application_sources(application: dict[str, Any]) -> list[dict[str, Any]]:
    spec = mapping(application.get("spec"))
    return [mapping(source) for source in [spec.get("source"), *sequence(spec.get("sources"))] if source]


def helm_values(application: dict[str, Any]) -> list[Any]:
    """The Helm values an Application gives its chart inline (``helm.valuesObject``, ``helm.values``)."""
    found = []
    for source in application_sources(application):
        helm = mapping(source.get("helm"))
        if "valuesObject" in helm:
            found.append(helm["valuesObject"])
        if isinstance(helm.get("values"), str):
            try:
                found.append(yaml.safe_load(helm["values"]))
            except yaml.YAMLError:
                continue
    return found
