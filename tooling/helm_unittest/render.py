"""Rendering a case as the plugin does, with the real ``helm template``.

The plugin renders in-process only the templates a suite selects (plus every partial), so a failing template
nobody selected cannot fail a case. Here each distinct selection becomes a filtered copy of the chart,
rendered
by ``helm template``. Where ``helm template`` cannot reproduce the plugin's engine (its release name
``RELEASE-NAME`` is invalid for the CLI, NOTES are not printed, documents are re-ordered by kind, the API
versions on offer differ) the runner either compensates exactly or refuses the case, naming why.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tooling.helm_unittest.charts import ChartNode, template_file_name, template_pattern
from tooling.helm_unittest.yamlcompat import load, load_all, to_json

DEFAULT_RELEASE_NAME = "RELEASE-NAME"
DEFAULT_NAMESPACE = "NAMESPACE"
# Helm's CLI rejects RELEASE-NAME; render with a valid name of the same length and put the plugin's back.
RELEASE_PLACEHOLDER = "hu-rel-4c9f2"
# The plugin's Helm library is built without the LDFLAGS that set the default Kubernetes version.
DEFAULT_KUBE_MAJOR, DEFAULT_KUBE_MINOR = "1", "20"
RAW_KEY = "raw"
TEXT_WRAPPER_KEY = "helm-unittest-raw-text"
_SOURCE = re.compile(r"^---\n# Source: (.+)\n", re.MULTILINE)
_HAS_API_VERSION = re.compile(r"APIVersions\.Has\s+\"([^\"]+)\"")
YAML_EXTENSIONS = (".yaml", ".yml", ".tpl")


class Refused(Exception):
    """The case needs something this runner cannot reproduce faithfully; the message names it."""


@dataclass(frozen=True)
class RenderRequest:
    release_name: str
    namespace: str
    revision: int
    upgrade: bool
    kube_major: str
    kube_minor: str
    api_versions: tuple[str, ...]
    chart_version: str
    chart_app_version: str
    include_crds: bool
    skip_schema_validation: bool
    selected: frozenset[str]
    values_json: str


@dataclass
class Rendered:
    """Documents per template key (every selected template, empty ones too), or Helm's error."""

    documents: dict[str, list[Any]] = field(default_factory=dict)
    error: str | None = None
    exec_error: str | None = None
    order_uncertain: set[str] = field(default_factory=set)
    wrapped: set[str] = field(default_factory=set)


def select_templates(
    tree: ChartNode, chart_route: str, include: list[str], exclude: list[str]
) -> frozenset[str]:
    """Template keys the plugin keeps for a suite: ``templates`` minus ``excludeTemplates``, plus partials."""
    include = include or ["**"]
    keep: set[str] = set()
    for node in tree.walk():
        for name in node.templates:
            key = f"{node.route}/{name}"
            if posixpath.basename(name).startswith("_") or (
                _matches(key, chart_route, include) and not _matches(key, chart_route, exclude)
            ):
                keep.add(key)
    return frozenset(keep)


def _matches(key: str, chart_route: str, names: list[str]) -> bool:
    for name in names:
        full = posixpath.normpath(posixpath.join(chart_route, template_file_name(name)))
        if re.search(template_pattern(full), key):
            return True
    return False


class Renderer:
    """Renders requests over one chart tree, caching filtered copies and renders for the whole run."""

    def __init__(self, helm: str, tree: ChartNode, workspace: Path) -> None:
        self.helm = helm
        self.tree = tree
        self.workspace = workspace
        self._copies: dict[tuple[frozenset[str], str, str], Path] = {}
        self._renders: dict[RenderRequest, Rendered] = {}
        self._lock = threading.Lock()
        self._builtin_api_versions: frozenset[str] | None = None

    def render(self, request: RenderRequest) -> Rendered:
        with self._lock:
            cached = self._renders.get(request)
        if cached is not None:
            return cached
        self._refuse_unreproducible(request)
        rendered = self._render(request)
        with self._lock:
            self._renders[request] = rendered
        return rendered

    def template_sources(self, selected: frozenset[str]) -> dict[str, str]:
        sources = {}
        for node in self.tree.walk():
            for name in node.templates:
                key = f"{node.route}/{name}"
                if key in selected:
                    sources[key] = (node.directory / name).read_text(errors="replace")
        return sources

    def _refuse_unreproducible(self, request: RenderRequest) -> None:
        sources = self.template_sources(request.selected)
        text = "\n".join(sources.values())
        if ".Capabilities.HelmVersion" in text:
            raise Refused("templates read .Capabilities.HelmVersion (the plugin's Helm library differs)")
        if ".Release.Revision" in text and request.revision not in (1,):
            raise Refused("templates read .Release.Revision (helm template always renders revision 1)")
        if ".Chart.KubeVersion" in text:
            raise Refused(
                "templates read .Chart.KubeVersion (helm template enforces it, the plugin does not)"
            )
        if "APIVersions" in text:
            literals = _HAS_API_VERSION.findall(text)
            if text.count("APIVersions") != len(literals):
                raise Refused("templates use .Capabilities.APIVersions beyond literal .Has checks")
            builtin = self._builtin_versions()
            for version in literals:
                listed = version in request.api_versions
                if listed != (listed or version in builtin):
                    raise Refused(
                        f"capabilities.apiVersions: the plugin offers only listed API versions, "
                        f"helm template also the built-in {version}"
                    )

    def _builtin_versions(self) -> frozenset[str]:
        with self._lock:
            if self._builtin_api_versions is not None:
                return self._builtin_api_versions
        probe = Path(tempfile.mkdtemp(prefix="api-versions-probe-", dir=self.workspace))  # threads race here
        (probe / "templates").mkdir()
        (probe / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
        (probe / "templates" / "probe.yaml").write_text(
            "versions: {{ .Capabilities.APIVersions | toJson }}\n"
        )
        result = subprocess.run(
            [self.helm, "template", "probe", str(probe)], capture_output=True, text=True, check=True
        )
        versions = frozenset(
            load(result.stdout.split("# Source: probe/templates/probe.yaml\n", 1)[1])["versions"]
        )
        with self._lock:
            self._builtin_api_versions = versions
        return versions

    def _chart_copy(self, request: RenderRequest) -> tuple[Path, set[str]]:
        key = (request.selected, request.chart_version, request.chart_app_version)
        with self._lock:
            known = self._copies.get(key)
        if known is not None:
            return known, self._wrapped_keys(request.selected)
        wrapped: set[str] = set()
        # A folder of its own: two threads may build the same selection at once (both missed the cache).
        target = Path(tempfile.mkdtemp(prefix="chart-", dir=self.workspace))
        self._copy_node(self.tree, target, request, wrapped, top=True)
        with self._lock:
            self._copies[key] = target
        return target, wrapped

    def _wrapped_keys(self, selected: frozenset[str]) -> set[str]:
        return {key for key in selected if _needs_wrapper(key)}

    def _copy_node(
        self, node: ChartNode, target: Path, request: RenderRequest, wrapped: set[str], top: bool
    ) -> None:
        templates = set(node.templates)
        sub_dirs = {sub.directory.resolve() for sub in node.subcharts}
        for root, dirs, files in os.walk(node.directory):
            root_path = Path(root)
            dirs[:] = [d for d in dirs if (root_path / d).resolve() not in sub_dirs]
            relative_root = root_path.relative_to(node.directory)
            (target / relative_root).mkdir(parents=True, exist_ok=True)
            for file_name in files:
                relative = (relative_root / file_name).as_posix()
                source = root_path / file_name
                destination = target / relative_root / file_name
                key = f"{node.route}/{relative}"
                if relative == "Chart.yaml":
                    destination.write_text(_chart_yaml(source, request, top))
                elif relative in templates and key not in request.selected:
                    continue
                elif relative in templates and _needs_wrapper(key):
                    wrapped.add(key)
                    (target / relative_root / (file_name + ".hu-raw.yaml")).write_text(
                        _text_wrapper(key, source.read_text())
                    )
                else:
                    os.link(source, destination)
        for sub in node.subcharts:
            self._copy_node(sub, target / "charts" / sub.directory.name, request, wrapped, top=False)

    def _render(self, request: RenderRequest) -> Rendered:
        chart_dir, wrapped = self._chart_copy(request)
        # A file of its own per render: under one shared name, one thread truncated what another helm read.
        descriptor, name_of_values = tempfile.mkstemp(prefix="values-", suffix=".json", dir=self.workspace)
        with os.fdopen(descriptor, "w") as values:
            values.write(request.values_json)
        values_file = Path(name_of_values)
        name = request.release_name or RELEASE_PLACEHOLDER
        args = [
            self.helm,
            "template",
            name,
            str(chart_dir),
            "--namespace",
            request.namespace or DEFAULT_NAMESPACE,
        ]
        args += ["--kube-version", f"v{request.kube_major}.{request.kube_minor}.0", "-f", str(values_file)]
        args += [arg for version in request.api_versions for arg in ("--api-versions", version)]
        if request.upgrade:
            args.append("--is-upgrade")
        if request.include_crds:
            args.append("--include-crds")
        if request.skip_schema_validation:
            args.append("--skip-schema-validation")
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        chart_name = self.tree.name

        def restore(text: str) -> str:
            if request.release_name:
                return text
            return text.replace(RELEASE_PLACEHOLDER, DEFAULT_RELEASE_NAME).replace(
                RELEASE_PLACEHOLDER.upper(), DEFAULT_RELEASE_NAME
            )

        if result.returncode != 0:
            message = restore(_helm_error(result.stderr)).replace(f"{chart_dir}", chart_name)
            if message.startswith("YAML parse error"):
                return Rendered(exec_error=message, wrapped=wrapped)
            return Rendered(error=message, wrapped=wrapped)
        return _parse_output(restore(result.stdout), request.selected, wrapped)


def _needs_wrapper(key: str) -> bool:
    return not key.endswith(YAML_EXTENSIONS) and not posixpath.basename(key).startswith("_")


def _text_wrapper(key: str, text: str) -> str:
    """A text template (NOTES.txt) as one YAML string: helm template prints no NOTES, splits text."""
    if "define" in text or ".Template" in text:
        raise Refused(f"{key}: a text template that defines templates or reads .Template")
    block = f"helm-unittest-raw:{key}"
    include = f'{TEXT_WRAPPER_KEY}: {{{{ include "{block}" . | toJson }}}}'
    return f'{{{{ define "{block}" }}}}{text}{{{{ end }}}}\n{include}\n'


def _chart_yaml(source: Path, request: RenderRequest, top: bool) -> str:
    metadata = load(source.read_text()) or {}
    if request.chart_version:
        metadata["version"] = request.chart_version
    if request.chart_app_version:
        metadata["appVersion"] = request.chart_app_version
    # The plugin's engine never checks a chart's kubeVersion constraint; helm template would.
    metadata.pop("kubeVersion", None)
    del top
    return to_json(metadata)


def _helm_error(stderr: str) -> str:
    position = stderr.find("Error: ")
    text = stderr[position + len("Error: ") :] if position >= 0 else stderr
    # helm template's advice line is not part of the engine's error, which is what the plugin compares.
    return text.rstrip("\n").removesuffix("Use --debug flag to render out invalid YAML").rstrip("\n")


def _parse_output(stdout: str, selected: frozenset[str], wrapped: set[str]) -> Rendered:
    rendered = Rendered(wrapped=wrapped)
    for key in selected:
        if not posixpath.basename(key).startswith("_"):
            rendered.documents.setdefault(key, [])
    pieces = _SOURCE.split(stdout)
    kinds: dict[str, set[str]] = {}
    for position in range(1, len(pieces), 2):
        source, body = pieces[position], pieces[position + 1]
        if source.endswith(".hu-raw.yaml"):
            original = source.removesuffix(".hu-raw.yaml")
            text = load(body)[TEXT_WRAPPER_KEY]
            if original.endswith(".txt"):
                rendered.documents[original] = [{RAW_KEY: text}]
            else:
                rendered.documents.pop(original, None)
            continue
        try:
            documents = load_all(body)
        except yaml.YAMLError as error:
            rendered.exec_error = f"{source}: {error}"
            return rendered
        for document in documents:
            if document is None or document == {}:
                continue
            if not isinstance(document, dict):
                rendered.exec_error = f"{source}: a document that is not a mapping"
                return rendered
            rendered.documents.setdefault(source, []).append(document)
            hook = (
                "hook"
                if "helm.sh/hook" in ((document.get("metadata") or {}).get("annotations") or {})
                else ""
            )
            kinds.setdefault(source, set()).add(f"{document.get('kind')}{hook}")
    rendered.order_uncertain = {source for source, seen in kinds.items() if len(seen) > 1}
    return rendered
