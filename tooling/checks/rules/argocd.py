"""Argo CD: ApplicationSets fail loudly and never cascade, prod never prunes, AppProjects name their kinds,
the generated Applications deploy exactly what the platform model renders, and directory sources apply exactly
the ``*.yaml`` files the validator reads (``tooling.infra.directories``).

The trust boundary: every Argo CD object (the root, the Applications, the ApplicationSets, the projects) comes
from the promoted ``prod`` branch, and only dev's Applications follow anything else, confined to dev's
namespaces. AppProjects are least privilege: named cluster-scoped kinds, cluster RBAC, webhooks and CRDs only
for upstream charts, ``argocd`` and ``kube-system`` each open to one named project.
"""

from __future__ import annotations

import fnmatch
import re
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
from tooling.infra.directories import DIRECTORY_INCLUDE, is_directory_source, manifest_files, relative_to
from tooling.infra.k8s import dig, mapping, name_of, sequence
from tooling.infra.repository import Document, Repository, object_label
from tooling.model import (
    COMPONENTS,
    ENVIRONMENTS,
    GITOPS_DIRS,
    PROD,
    SEALED_SECRETS_DIR,
    Deployment,
    namespaces,
)

MISSINGKEY_ERROR = "missingkey=error"
ARGOCD_NAMESPACE = "argocd"
ARGOCD_GROUP = "argoproj.io"
PROTECTED_NAMESPACES = {ARGOCD_NAMESPACE: "app-of-apps", "kube-system": "sealed-secrets"}
"""Namespaces that hold the cluster's keys (Argo CD and its repository credentials; the sealing key), each
open to the one project named here."""
UPSTREAM_CHARTS = {
    "https://metallb.github.io/metallb": "metallb",
    "https://bitnami-labs.github.io/sealed-secrets": "sealed-secrets",
    "https://charts.jetstack.io": "cert-manager",
    "https://kubernetes.github.io/ingress-nginx": "ingress-nginx",
}
"""The Helm repositories the cluster installs from, each for one chart (AppProjects cannot name a chart)."""
CLUSTER_POWER_KINDS = frozenset(
    {
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    }
)
"""Cluster-scoped kinds that grant or intercept everything: only pinned upstream charts create them."""
EXACT_VERSION = re.compile(r"v?\d+\.\d+\.\d+")
GLOB_OR_PATH_CHARACTERS = frozenset("*?[]{}!\\/")
"""What makes a ``directory.include`` more than one file's name (Argo CD's glob syntax, a path separator)."""


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
    """prod's Applications and every one outside a non-prod environment's project (the Argo CD objects, the
    cluster infrastructure: all from the prod branch) remove nothing by themselves."""
    for document in applications(repo):
        project = dig(document.obj, "spec", "project")
        governed_by_prod = (
            application_env(document.obj) == PROD or project not in ENVIRONMENTS or project == PROD
        )
        if governed_by_prod and dig(document.obj, "spec", "syncPolicy", "automated", "prune") is True:
            yield document_finding(
                document,
                "prod-no-auto-prune",
                "an Application governed by the prod branch prunes automatically",
            )


def check_appproject_wildcard(repo: Repository) -> Iterator[Finding]:
    for document in repo.kind("AppProject"):
        for entry in sequence(dig(document.obj, "spec", "clusterResourceWhitelist")):
            if mapping(entry).get("group") == "*" and mapping(entry).get("kind") == "*":
                yield document_finding(
                    document,
                    "appproject-wildcard",
                    "clusterResourceWhitelist allows every cluster-scoped kind (*/*): name the kinds",
                )


def check_argocd_objects_follow_prod(repo: Repository) -> Iterator[Finding]:
    """An Application that deploys into argocd creates Argo CD objects: it reads them from prod only."""
    for document in repo.kind("Application"):
        if dig(document.obj, "spec", "destination", "namespace") != ARGOCD_NAMESPACE:
            continue
        for source in application_sources(document.obj):
            revision = source.get("targetRevision")
            if "chart" in source or revision != PROD:
                yield document_finding(
                    document,
                    "argocd-objects-follow-prod",
                    f"deploys Argo CD objects from {source.get('path') or source.get('chart')!r} at "
                    f"{revision!r}: they come only from the promoted {PROD!r} branch",
                )


def check_main_confined_to_dev(repo: Repository) -> Iterator[Finding]:
    """Only an environment's own Applications follow a branch other than prod, into its namespaces only."""
    for document in applications(repo):
        project = dig(document.obj, "spec", "project")
        namespace = dig(document.obj, "spec", "destination", "namespace")
        for source in application_sources(document.obj):
            revision = source.get("targetRevision")
            if "path" not in source or revision == PROD:
                continue
            if project == PROD or project not in ENVIRONMENTS or namespace not in namespaces(str(project)):
                yield document_finding(
                    document,
                    "main-confined-to-dev",
                    f"follows {revision!r} into project {project!r}, namespace {namespace!r}: only a "
                    f"non-prod environment's Applications follow anything but {PROD!r}, into its namespaces",
                )


def check_env_objects_in_env(repo: Repository) -> Iterator[Finding]:
    """What an environment syncs (its SealedSecrets folder, its rendered charts) stays in its namespaces."""
    for document in repo.objects():
        env = document.env
        if (
            env is None
            or not document.path.startswith(f"{SEALED_SECRETS_DIR}/")
            or not isinstance(document.obj, dict)
        ):
            continue
        if document.obj.get("kind") == "SealedSecret":
            continue  # sealedsecret-namespace judges those
        problem = _out_of_env(document.obj, env, None)
        if problem:
            yield document_finding(document, "env-objects-in-env", problem)
    for deployment, manifests in repo.rendered.items():
        for manifest in manifests:
            problem = _out_of_env(manifest.obj, deployment.env, deployment.namespace)
            if problem:
                yield Finding(
                    manifest.source,
                    object_label(manifest.obj, deployment.namespace),
                    "env-objects-in-env",
                    problem,
                )


def _out_of_env(obj: dict[str, Any], env: str, default_namespace: str | None) -> str | None:
    allowed = namespaces(env)
    if str(obj.get("apiVersion", "")).startswith(f"{ARGOCD_GROUP}/"):
        return f"an Argo CD object in {env}'s content: Argo CD objects live in apps/ and follow {PROD!r}"
    if obj.get("kind") == "Namespace":
        name = name_of(obj)
        return None if name in allowed else f"Namespace {name!r} is not one of {env}'s namespaces {allowed}"
    namespace = dig(obj, "metadata", "namespace") or default_namespace
    if namespace not in allowed:
        return f"namespace {namespace!r} is not one of {env}'s namespaces {allowed}"
    return None


def check_appproject_protected_namespaces(repo: Repository) -> Iterator[Finding]:
    for document in repo.kind("AppProject"):
        project = name_of(document.obj)
        spec = mapping(document.obj.get("spec"))
        for destination in sequence(spec.get("destinations")):
            pattern = str(mapping(destination).get("namespace", ""))
            for protected, owner in PROTECTED_NAMESPACES.items():
                if fnmatch.fnmatchcase(protected, pattern) and project != owner:
                    yield document_finding(
                        document,
                        "appproject-protected-namespace",
                        f"destination {pattern!r} reaches {protected}, "
                        f"which only project {owner!r} may deploy to",
                    )
        if project in PROTECTED_NAMESPACES.values():
            kinds = {
                (mapping(e).get("group"), mapping(e).get("kind"))
                for e in sequence(spec.get("namespaceResourceWhitelist"))
            }
            if not kinds or ("", "Secret") in kinds or any("*" in str(k) for pair in kinds for k in pair):
                yield document_finding(
                    document,
                    "appproject-protected-namespace",
                    "a project deploying into a protected namespace lists its namespaced kinds, "
                    "never Secret or *",
                )


def check_appproject_kinds(repo: Repository) -> Iterator[Finding]:
    """Cluster-scoped kinds by name; cluster RBAC, webhooks and CRDs only from upstream charts."""
    for document in repo.kind("AppProject"):
        spec = mapping(document.obj.get("spec"))
        reads_git = any(
            repo_url not in UPSTREAM_CHARTS for repo_url in map(str, sequence(spec.get("sourceRepos")))
        )
        for entry in map(mapping, sequence(spec.get("clusterResourceWhitelist"))):
            group, kind, name = str(entry.get("group")), str(entry.get("kind")), str(entry.get("name") or "*")
            if "*" in group or "*" in kind:
                yield document_finding(
                    document, "appproject-kinds", f"clusterResourceWhitelist {group}/{kind}: name the kind"
                )
            elif name == "*":
                yield document_finding(
                    document,
                    "appproject-kinds",
                    f"clusterResourceWhitelist {group}/{kind} has no name: any such object would be "
                    "allowed, another project's included",
                )
            if (group, kind) in CLUSTER_POWER_KINDS and reads_git:
                yield document_finding(
                    document,
                    "appproject-kinds",
                    f"a project reading a git repository may not create {kind}: "
                    "only pinned upstream charts do",
                )
        namespaced = [mapping(entry) for entry in sequence(spec.get("namespaceResourceWhitelist"))]
        # Argo CD reads an absent or empty list (an empty one is dropped when stored) as "every kind".
        if not namespaced or any(
            "*" in str(entry.get("group")) or "*" in str(entry.get("kind")) for entry in namespaced
        ):
            yield document_finding(
                document,
                "appproject-kinds",
                "namespaceResourceWhitelist must list the namespaced kinds, no *",
            )


def check_appproject_source_namespaces(repo: Repository) -> Iterator[Finding]:
    """Applications live in argocd, where only the prod branch writes: no project admits them from elsewhere.

    ``sourceNamespaces`` ("Applications in any namespace") would let whoever may create an Application in a
    listed namespace use the project, around the promoted branch.
    """
    for document in repo.kind("AppProject"):
        listed = sequence(dig(document.obj, "spec", "sourceNamespaces"))
        if listed:
            yield document_finding(
                document,
                "appproject-source-namespaces",
                f"sourceNamespaces {listed} admits Applications from outside argocd, around the prod branch",
            )


def check_appproject_env_confined(repo: Repository) -> Iterator[Finding]:
    for document in repo.kind("AppProject"):
        env = name_of(document.obj)
        if env not in ENVIRONMENTS:
            continue
        allowed = namespaces(env)
        spec = mapping(document.obj.get("spec"))
        for destination in map(mapping, sequence(spec.get("destinations"))):
            if destination.get("namespace") not in allowed:
                yield document_finding(
                    document,
                    "appproject-env-confined",
                    f"destination {destination.get('namespace')!r} is not one of "
                    f"{env}'s namespaces {allowed}",
                )
        for entry in map(mapping, sequence(spec.get("clusterResourceWhitelist"))):
            if (entry.get("group"), entry.get("kind")) != ("", "Namespace") or entry.get(
                "name"
            ) not in allowed:
                yield document_finding(
                    document,
                    "appproject-env-confined",
                    f"cluster-scoped {entry.get('kind')}/{entry.get('name') or '*'}: an environment creates "
                    f"only its own Namespaces {allowed}",
                )


def check_appproject_env_kinds(repo: Repository) -> Iterator[Finding]:
    """Argo CD refuses a kind its project does not list: each environment's project covers what it deploys."""
    projects = {name_of(document.obj): document for document in repo.kind("AppProject")}
    deployed: dict[str, set[tuple[str, str]]] = {env: set() for env in ENVIRONMENTS}
    for deployment, manifests in repo.rendered.items():
        deployed[deployment.env] |= {_group_kind(manifest.obj) for manifest in manifests}
    for document in repo.objects():
        if (
            document.env
            and document.path.startswith(f"{SEALED_SECRETS_DIR}/")
            and isinstance(document.obj, dict)
        ):
            deployed[document.env].add(_group_kind(document.obj))
    for env, kinds in deployed.items():
        project = projects.get(env)
        if project is None:
            continue
        spec = mapping(project.obj.get("spec"))
        if not sequence(spec.get("namespaceResourceWhitelist")):
            kinds = {
                ("", "Namespace")
            } & kinds  # every namespaced kind is allowed (appproject-kinds reports it)
        listed = {
            (str(mapping(e).get("group")), str(mapping(e).get("kind")))
            for e in sequence(spec.get("namespaceResourceWhitelist"))
        }
        listed |= {
            (str(mapping(e).get("group")), str(mapping(e).get("kind")))
            for e in sequence(spec.get("clusterResourceWhitelist"))
        }
        for group, kind in sorted(kinds - listed):
            yield document_finding(
                project,
                "appproject-env-kinds",
                f"{env} deploys {kind} ({group or 'core'}), which the project does not list: "
                "Argo CD would refuse it",
            )


def _group_kind(obj: dict[str, Any]) -> tuple[str, str]:
    api_version = str(obj.get("apiVersion", ""))
    return (api_version.rpartition("/")[0], str(obj.get("kind")))


def check_upstream_chart_pinned(repo: Repository) -> Iterator[Finding]:
    for document in repo.kind("Application"):
        for source in application_sources(document.obj):
            if "chart" not in source:
                continue
            repo_url, chart, version = (
                source.get("repoURL"),
                source.get("chart"),
                str(source.get("targetRevision")),
            )
            if UPSTREAM_CHARTS.get(str(repo_url)) != chart:
                yield document_finding(
                    document,
                    "upstream-chart-pinned",
                    f"chart {chart!r} from {repo_url!r} is not one of the named upstream charts",
                )
            if not EXACT_VERSION.fullmatch(version):
                yield document_finding(
                    document, "upstream-chart-pinned", f"chart version {version!r} is not an exact version"
                )


def _directory_sources(repo: Repository) -> Iterator[tuple[Document, dict[str, Any]]]:
    """Every directory source of every Application, static or generated (``tooling.infra.directories``)."""
    for document in applications(repo):
        for source in application_sources(document.obj):
            if is_directory_source(repo.root, source):
                yield document, source


def check_directory_include(repo: Repository) -> Iterator[Finding]:
    """Argo CD applies every .yaml, .yml, .json and .jsonnet file of a directory source's folder unless
    ``directory.include`` narrows it, but the validator and the promotion diff read .yaml files: every
    directory source includes exactly ``*.yaml``, or one named .yaml file (``platform-<env>`` each apply their
    own environment's ApplicationSet of ``applicationsets/``, a narrower set of the same files)."""
    for document, source in _directory_sources(repo):
        include = mapping(source.get("directory")).get("include")
        if include == DIRECTORY_INCLUDE or _one_yaml_file(include):
            continue
        what = f"directory.include {include!r}" if include else "no directory.include"
        yield document_finding(
            document,
            "argocd-directory-include",
            f"directory source {source.get('path')!r} sets {what}: Argo CD would apply .yml, .json or "
            f".jsonnet files there, which the validator and the promotion diff never read; include "
            f"{DIRECTORY_INCLUDE!r}",
        )


def _one_yaml_file(include: Any) -> bool:
    return (
        isinstance(include, str) and include.endswith(".yaml") and not set(include) & GLOB_OR_PATH_CHARACTERS
    )


def check_directory_files(repo: Repository) -> Iterator[Finding]:
    """A directory source syncs a folder whose every document the validator judges as an object, and nothing
    there is a manifest Argo CD skips (a .yml, .json or .jsonnet file beside the ``*.yaml`` it applies): what
    is committed where Argo CD syncs is what it applies, never silently ignored."""
    root = repo.root.resolve()
    for document, source in _directory_sources(repo):
        path = str(source.get("path"))
        folder = (root / path).resolve()
        parts = folder.relative_to(root).parts if folder.is_relative_to(root) else ()
        if not parts or parts[0] not in GITOPS_DIRS:
            yield document_finding(
                document,
                "argocd-directory-files",
                f"directory source {path!r} is not in one of {list(GITOPS_DIRS)}, the folders whose every "
                "document the validator judges as an object",
            )
            continue
        for file in manifest_files(root, source):
            if not fnmatch.fnmatchcase(relative_to(file, folder), DIRECTORY_INCLUDE):
                yield Finding(
                    file.relative_to(root).as_posix(),
                    object_label(document.obj),
                    "argocd-directory-files",
                    f"a {file.suffix} file where {name_of(document.obj)} syncs {path}: Argo CD skips it "
                    f"(directory.include {DIRECTORY_INCLUDE!r}), so whatever it holds is silently ignored; "
                    "make it a .yaml file or move it out",
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
        "argocd-objects-follow-prod",
        "Argo CD objects (the root, Applications, ApplicationSets, projects) come only from the prod branch",
        check_argocd_objects_follow_prod,
    ),
    Rule(
        "main-confined-to-dev",
        "an Application following anything but prod is a non-prod environment's, into its own namespaces",
        check_main_confined_to_dev,
    ),
    Rule(
        "env-objects-in-env",
        "an environment's SealedSecrets and rendered charts stay in its namespaces, with no Argo CD object",
        check_env_objects_in_env,
    ),
    Rule(
        "appproject-protected-namespace",
        "argocd and kube-system are each open to one named project, which lists its kinds and no Secret",
        check_appproject_protected_namespaces,
    ),
    Rule(
        "appproject-kinds",
        "AppProjects name their kinds; cluster RBAC, webhooks and CRDs only for upstream charts",
        check_appproject_kinds,
    ),
    Rule(
        "appproject-source-namespaces",
        "no AppProject admits Applications from outside argocd (sourceNamespaces)",
        check_appproject_source_namespaces,
    ),
    Rule(
        "appproject-env-confined",
        "an environment's project reaches only its namespaces and creates only its Namespaces",
        check_appproject_env_confined,
    ),
    Rule(
        "appproject-env-kinds",
        "an environment's project lists every kind the environment deploys",
        check_appproject_env_kinds,
    ),
    Rule(
        "upstream-chart-pinned",
        "upstream Applications install a named chart of its repository at an exact version",
        check_upstream_chart_pinned,
    ),
    Rule(
        "argocd-directory-include",
        "every directory source includes *.yaml (or one named .yaml file): Argo CD applies what is validated",
        check_directory_include,
    ),
    Rule(
        "argocd-directory-files",
        "directory sources sync validated folders with no manifest but *.yaml: nothing is silently skipped",
        check_directory_files,
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
