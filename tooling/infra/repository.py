"""What the checks look at: the repository's YAML documents and every chart rendered for every environment.

Built once (I/O), then handed to pure rule functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tooling.infra.helm import FAST_LOADER, Manifest
from tooling.model import CHARTS, ENVIRONMENTS, ENVIRONMENTS_DIR, GITOPS_DIRS, Deployment

YAML_SUFFIXES = (".yaml", ".yml")
DOCKERFILE_NAMES = ("Dockerfile", "Containerfile")
SKIPPED_DIRS = frozenset(
    {".git", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
)
SKIPPED_PREFIXES = (".venv", ".tools", ".demo", ".bench")
NOT_OBJECT_DIRS = (ENVIRONMENTS_DIR, "tests", ".github")
"""Folders whose YAML is values, test data or workflows, never applied to a cluster."""


@dataclass(frozen=True)
class Document:
    """One YAML document of a file in git (``index`` counts documents within the file)."""

    path: str
    index: int
    obj: Any

    @property
    def env(self) -> str | None:
        """The environment a file belongs to by its folder (``metallb/prod/...`` → prod)."""
        return next((part for part in Path(self.path).parts if part in ENVIRONMENTS), None)


@dataclass(frozen=True)
class AppSettings:
    """What the serving app's settings model says about its environment variables."""

    source: str
    fields: tuple[str, ...]
    """The environment variables the app reads."""
    problems: Callable[[dict[str, str]], list[str]]
    """One line per variable whose value the app would reject (never the value itself)."""
    client_routes: tuple[str, ...] = ()
    """The paths clients outside the cluster may call (``serving.config.CLIENT_ROUTES``)."""


@dataclass
class Repository:
    root: Path
    documents: list[Document] = field(default_factory=list)
    rendered: dict[Deployment, list[Manifest]] = field(default_factory=dict)
    unparsable: dict[str, str] = field(default_factory=dict)
    """YAML files that do not parse: path → one-line reason (reported by the YAML checks)."""
    app_settings: AppSettings | None = None
    applications: list[dict[str, Any]] = field(default_factory=list)
    """The Applications the ApplicationSets generate (``tooling.infra.applicationsets``)."""
    build_files: dict[str, str] = field(default_factory=dict)
    """Every Dockerfile and the requirement files beside it (its build context's locks): path → text."""

    def objects(self) -> Iterator[Document]:
        """Documents that are Kubernetes objects, to be validated and checked as such."""
        for document in self.documents:
            if is_template_or_chart_file(document.path) or document.path.startswith(NOT_OBJECT_DIRS):
                continue
            if document.path.startswith(GITOPS_DIRS) or is_object(document.obj):
                yield document

    def kind(self, kind: str) -> Iterator[Document]:
        return (
            document
            for document in self.objects()
            if isinstance(document.obj, dict) and document.obj.get("kind") == kind
        )


def is_object(obj: Any) -> bool:
    return isinstance(obj, dict) and "apiVersion" in obj and "kind" in obj


def is_template_or_chart_file(path: str) -> bool:
    """Chart templates are Go templates, not YAML; a chart's own files are values and metadata."""
    parts = Path(path).parts
    return len(parts) >= 3 and parts[0] == CHARTS


def source_files(root: Path) -> Iterator[Path]:
    """Every file of the working tree, without descending into environments, caches and tool folders."""
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if name not in SKIPPED_DIRS and not name.startswith(SKIPPED_PREFIXES)
        )
        yield from (Path(directory) / name for name in sorted(files))


def is_dockerfile(name: str) -> bool:
    return (
        name in ("Dockerfile", "Containerfile")
        or name.startswith("Dockerfile.")
        or name.endswith(".Dockerfile")
    )


def dockerfiles(root: Path) -> list[Path]:
    return [path for path in source_files(root) if is_dockerfile(path.name)]


def load_build_files(root: Path) -> dict[str, str]:
    """Each Dockerfile and the requirement files in its folder (the build context its comment names)."""
    files: dict[str, str] = {}
    for dockerfile in dockerfiles(root):
        beside = [
            p for p in sorted(dockerfile.parent.iterdir()) if p.suffix in (".lock", ".txt") and p.is_file()
        ]
        for path in (dockerfile, *beside):
            files[str(path.relative_to(root))] = path.read_text()
    return files


def yaml_files(root: Path) -> list[Path]:
    """Every YAML file in the working tree, chart templates included (yamllint's config ignores those)."""
    return [path for path in source_files(root) if path.suffix in YAML_SUFFIXES]


def load_documents(root: Path) -> tuple[list[Document], dict[str, str]]:
    documents: list[Document] = []
    unparsable: dict[str, str] = {}
    for path in yaml_files(root):
        relative = str(path.relative_to(root))
        if "templates" in Path(relative).parts and relative.startswith(f"{CHARTS}/"):
            continue
        try:
            loaded = list(yaml.load_all(path.read_text(), Loader=FAST_LOADER))
        except yaml.YAMLError as error:
            unparsable[relative] = str(error).splitlines()[0]
            continue
        documents += [Document(relative, index, obj) for index, obj in enumerate(loaded) if obj is not None]
    return documents, unparsable


def object_label(obj: Any, namespace: str | None = None) -> str:
    """``<namespace>/<Kind>/<name>`` (namespace omitted when none applies)."""
    if not isinstance(obj, dict):
        return "(not a mapping)"
    metadata = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    namespace = metadata.get("namespace") or namespace
    label = f"{obj.get('kind', '?')}/{metadata.get('name', '?')}"
    return f"{namespace}/{label}" if namespace else label
