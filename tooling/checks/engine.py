"""Run every check over a checkout and collect the findings; the slow tools overlap with the rest."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooling.checks import tools
from tooling.checks.checkov import CheckovScan
from tooling.checks.findings import Finding
from tooling.checks.rules import app_contract, run_rules
from tooling.infra import helm
from tooling.infra.applicationsets import GENERATED, generated_applications
from tooling.infra.helm import HelmError, Manifest
from tooling.infra.repository import Repository, is_object, load_build_files, load_documents, object_label
from tooling.infra.schemas import SchemaStore, default_locations
from tooling.model import GITOPS_DIRS, KUBE_VERSION, Deployment, deployments

CHECKS = ("helm", "yamllint", "schema", "rules", "checkov", "hadolint", "actionlint")
NEEDS_RENDER = frozenset({"helm", "schema", "rules", "checkov"})
HELM_WORKERS = 4
_renders: dict[str, str] = {}
"""Rendered text by the hash of everything helm reads, so one process renders unchanged inputs once."""


@dataclass(frozen=True)
class Report:
    findings: list[Finding]
    seconds: float


def validate(
    root: Path,
    kube_version: str = KUBE_VERSION,
    schema_locations: list[str] | None = None,
    checks: frozenset[str] = frozenset(CHECKS),
) -> Report:
    started = time.monotonic()
    root = root.resolve()
    findings: list[Finding] = []
    targets = deployments(root) if checks & NEEDS_RENDER else []
    keys = {deployment: helm.render_key(deployment, kube_version) for deployment in targets}
    # The external tools start first and run beside everything else (two cores: overlap is the speed-up).
    checkov = CheckovScan("".join(keys.values())) if "checkov" in checks else None
    pending = [
        tools.start_yamllint(root) if "yamllint" in checks else None,
        tools.start_hadolint(root) if "hadolint" in checks else None,
        tools.start_actionlint(root) if "actionlint" in checks else None,
    ]
    repo = Repository(root)
    with ThreadPoolExecutor(HELM_WORKERS) as pool:
        rendering = pool.map(lambda d: _render(d, keys[d], kube_version), targets)
        lints = pool.map(lambda d: _lint(d, kube_version), targets) if "helm" in checks else iter(())
        repo.documents, repo.unparsable = load_documents(root)
        for deployment, (manifests, problem) in zip(targets, rendering, strict=True):
            repo.rendered[deployment] = manifests
            findings += [problem] if problem else []
        pending.append(checkov.scan(repo.rendered) if checkov else None)
        if "schema" in checks or "rules" in checks:
            findings += _load_app_context(repo)
        if "schema" in checks:
            store = SchemaStore(schema_locations or default_locations(root), kube_version)
            findings += _schema_findings(repo, store)
        if "rules" in checks:
            repo.build_files = load_build_files(root)
            findings += run_rules(repo)
        findings += [finding for problems in lints for finding in problems]
        for tool in pending:
            findings += tool.findings() if tool else []
    return Report(sorted(set(findings), key=_reading_order), time.monotonic() - started)


def _reading_order(finding: Finding) -> tuple[Any, ...]:
    """File, then object with its numbers compared as numbers ("line 9" before "line 10")."""
    parts = re.split(r"(\d+)", finding.object)
    return (
        finding.file,
        [int(part) if part.isdigit() else part for part in parts],
        finding.rule,
        finding.reason,
    )


def _render(deployment: Deployment, key: str, kube_version: str) -> tuple[list[Manifest], Finding | None]:
    chart = f"charts/{deployment.component}"
    try:
        if key not in _renders:
            _renders[key] = helm.render_text(deployment, kube_version)
        return helm.parse_manifests(_renders[key]), None
    except HelmError as error:
        return [], Finding(chart, deployment.release, "helm-template", str(error))


def _lint(deployment: Deployment, kube_version: str) -> list[Finding]:
    chart = f"charts/{deployment.component}"
    if not helm.chart_exists(deployment):
        return []  # reported once by helm-template
    return [
        Finding(chart, deployment.release, "helm-lint", problem)
        for problem in helm.lint(deployment, kube_version)
    ]


def _load_app_context(repo: Repository) -> list[Finding]:
    """The app's settings model and the generated Applications; either failing to load is a finding."""
    findings = app_contract.load(repo)
    try:
        repo.applications = generated_applications(repo.root)
    except Exception as error:  # a broken ApplicationSet is reported, not raised
        findings.append(Finding("applicationsets", "(generated)", "applications-generate", str(error)))
    return findings


def _schema_findings(repo: Repository, store: SchemaStore) -> Iterator[Finding]:
    for path, reason in repo.unparsable.items():
        yield Finding(path, "(file)", "yaml-parse", reason)
    subjects: list[tuple[str, Any, str | None]] = []
    for deployment, manifests in repo.rendered.items():
        subjects += [(manifest.source, manifest.obj, deployment.namespace) for manifest in manifests]
    for document in repo.objects():
        if not is_object(document.obj) and document.path.startswith(GITOPS_DIRS):
            yield Finding(document.path, f"document {document.index}", "schema", "not a Kubernetes object")
            continue
        subjects.append((document.path, document.obj, None))
    subjects += [(GENERATED, app, None) for app in repo.applications]
    for file, obj, namespace in subjects:
        label = object_label(obj, namespace)
        problems = store.problems(obj)
        if problems is None:
            yield Finding(
                file,
                label,
                "schema-missing",
                f"no schema for {obj.get('apiVersion')} {obj.get('kind')} in any schema location",
            )
            continue
        for problem in problems:
            yield Finding(file, label, "schema", f"{problem.path}: {problem.message}")
