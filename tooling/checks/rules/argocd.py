"""Argo CD: ApplicationSets fail loudly and never cascade, prod never prunes, AppProjects name their kinds,
and the generated Applications deploy exactly what the platform model renders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tooling.checks.findings import Finding
from tooling.checks.rules.base import (
    Rule,
    application_env,
    application_sources,
    applications,
    document_finding,
    only,
)
from tooling.infra.applicationsets import GENERATED
from tooling.infra.k8s import dig, mapping, name_of, sequence
from tooling.infra.repository import Document, Repository
from tooling.model import COMPONENTS, ENVIRONMENTS, PROD, Deployment

MISSINGKEY_ERROR = "missingkey=error"


def check_appset_go_template(repo: Repository) -> Iterator[Finding]:
    for document in repo.kind("ApplicationSet"):
        spec = mapping(document.obj.get("spec"))
        if spec.get("goTemplate") is not True:
            yield document_finding(document, "appset-go-template", "spec.goTemplate is not true")
        if MISSINGKEY_ERROR not in sequence(spec.get("goTemplateOptions")):
            yield document_finding(
                document,
                "appset-go-template",
                f"spec.goTemplateOptions lacks {MISSINGKEY_ERROR!r}: a typo would render '<no value>'",
            )


def check_appset_preserve(repo: Repository) -> Iterator[Finding]:
    for document in repo.kind("ApplicationSet"):
        if dig(document.obj, "spec", "syncPolicy", "preserveResourcesOnDeletion") is not True:
            yield document_finding(
                document,
                "appset-preserve",
                "spec.syncPolicy.preserveResourcesOnDeletion is not true: deleting it would cascade",
            )


def check_prod_no_prune(repo: Repository) -> Iterator[Finding]:
    for document in applications(repo):
        if (
            application_env(document.obj) == PROD
            and dig(document.obj, "spec", "syncPolicy", "automated", "prune") is True
        ):
            yield document_finding(document, "prod-no-auto-prune", "a prod Application prunes automatically")


def check_appproject_wildcard(repo: Repository) -> Iterator[Finding]:
    for document in repo.kind("AppProject"):
        for entry in sequence(dig(document.obj, "spec", "clusterResourceWhitelist")):
            if mapping(entry).get("group") == "*" and mapping(entry).get("kind") == "*":
                yield document_finding(
                    document,
                    "appproject-wildcard",
                    "clusterResourceWhitelist allows every cluster-scoped kind (*/*): name the kinds",
                )


def check_generated_applications(repo: Repository) -> Iterator[Finding]:
    """Generated Applications deploy what ``tooling.model`` renders (chart, values, release, namespace)."""
    for index, app in enumerate(repo.applications):
        document = Document(GENERATED, index, app)
        component, _, env = name_of(app).rpartition("-")
        if component not in COMPONENTS or env not in ENVIRONMENTS:
            yield document_finding(
                document,
                "application-platform",
                "name is not <component>-<env> of the platform model (tooling.model)",
            )
            continue
        expected = Deployment(component, env, repo.root)
        for source in application_sources(app):
            yield from _source_problems(repo.root, document, source, expected)
        namespace = dig(app, "spec", "destination", "namespace")
        if namespace != expected.namespace:
            yield document_finding(
                document,
                "application-platform",
                f"destination namespace {namespace!r} is not {expected.namespace!r}",
            )


def _source_problems(
    root: Path, document: Document, source: dict[str, Any], expected: Deployment
) -> Iterator[Finding]:
    path = source.get("path")
    if path is None:
        return
    chart = (root / str(path)).resolve()
    if not (chart / "Chart.yaml").is_file():
        yield document_finding(
            document, "application-paths", f"source path {path!r} is not a chart in this repository"
        )
        return
    helm = mapping(source.get("helm"))
    files = [(chart / str(name)).resolve() for name in sequence(helm.get("valueFiles"))]
    for name, resolved in zip(sequence(helm.get("valueFiles")), files, strict=True):
        if not resolved.is_file():
            yield document_finding(
                document, "application-paths", f"value file {name!r} does not exist (from {path})"
            )
    wanted = [value.resolve() for value in expected.value_files]
    if files and files not in (wanted, wanted[1:]):
        yield document_finding(
            document,
            "application-platform",
            "value files differ from the platform model's layering (chart values.yaml, then "
            f"environments/{expected.env}/{expected.component}.yaml)",
        )
    release = helm.get("releaseName") or name_of(document.obj)
    if chart != expected.chart_dir.resolve() or release != expected.release:
        yield document_finding(
            document,
            "application-platform",
            f"deploys {path} as release {release!r}, not charts/{expected.component} as {expected.release!r}",
        )


RULES = (
    Rule(
        "appset-go-template",
        "ApplicationSets use goTemplate with missingkey=error so template typos fail loudly",
        check_appset_go_template,
    ),
    Rule("appset-preserve", "deleting an ApplicationSet never deletes the workloads", check_appset_preserve),
    Rule("prod-no-auto-prune", "prod never prunes on its own", check_prod_no_prune),
    Rule(
        "appproject-wildcard",
        "AppProjects name their cluster-scoped kinds, never */*",
        check_appproject_wildcard,
    ),
    Rule(
        "application-paths",
        "generated Applications point at charts and value files that exist",
        only("application-paths", check_generated_applications),
    ),
    Rule(
        "application-platform",
        "generated Applications use the platform model's release, namespace and values (tooling.model)",
        only("application-platform", check_generated_applications),
    ),
)
