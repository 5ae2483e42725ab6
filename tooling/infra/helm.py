"""Render a chart for one environment with the real Helm, exactly as Argo CD will.

Same release name, namespace and value files in the same order as ``tooling.model.Deployment`` (which the
ApplicationSet mirrors), plus ``--kube-version`` so capability checks see the cluster we target.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import yaml

from tooling.infra.helmignore import chart_files
from tooling.infra.proc import last_line
from tooling.model import KUBE_VERSION, TOOLS_DIR, Deployment

FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (10x faster on a whole repository), else the pure one."""
SOURCE_COMMENT = re.compile(r"^# Source: (?P<path>\S+)", re.MULTILINE)
DOCUMENT_SEPARATOR = re.compile(r"^---\s*$", re.MULTILINE)
LINT_PROBLEM = re.compile(r"^\[(?P<level>ERROR|WARNING)\] (?P<message>.+)$", re.MULTILINE)


class HelmError(Exception):
    """Helm could not render a chart (bad template, bad values, schema rejection)."""


@dataclass(frozen=True)
class Manifest:
    """One rendered object and the chart file it came from (``charts/<chart>/templates/...``)."""

    source: str
    obj: dict[str, Any]


def helm_binary() -> str:
    found = shutil.which("helm")
    if found:
        return found
    bundled = TOOLS_DIR / "bin" / "helm"
    if bundled.is_file():
        return str(bundled)
    raise HelmError("helm not found on PATH nor at .tools/bin/helm (run: bin/bootstrap helm)")


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, check=False)


def _layered_args(deployment: Deployment, kube_version: str) -> list[str]:
    args = ["--namespace", deployment.namespace, "--kube-version", kube_version]
    for values in deployment.value_files:
        args += ["-f", str(values)]
    return args


def render_text(deployment: Deployment, kube_version: str = KUBE_VERSION) -> str:
    """``helm template <release> <chart> --namespace <ns> -f <layer>... --kube-version V``; HelmError."""
    result = helm(
        "template", deployment.release, str(deployment.chart_dir), *_layered_args(deployment, kube_version)
    )
    if result.returncode != 0:
        raise HelmError(helm_error(result.stderr))
    return result.stdout


def parse_manifests(text: str) -> list[Manifest]:
    """Split ``helm template`` output into objects, each with its ``# Source:`` template path."""
    manifests = []
    for chunk in DOCUMENT_SEPARATOR.split(text):
        source = SOURCE_COMMENT.search(chunk)
        obj = yaml.load(chunk, Loader=FAST_LOADER)  # noqa: S506  (a safe loader, C or Python)
        if isinstance(obj, dict):
            manifests.append(Manifest(f"charts/{source['path']}" if source else "<rendered>", obj))
    return manifests


def render_manifests(deployment: Deployment, kube_version: str = KUBE_VERSION) -> list[dict[str, Any]]:
    """The rendered objects of one chart x environment, in Helm's output order."""
    return [manifest.obj for manifest in parse_manifests(render_text(deployment, kube_version))]


def lint(deployment: Deployment, kube_version: str = KUBE_VERSION) -> list[str]:
    """``helm lint --strict`` with the environment's layers: every ERROR/WARNING line, empty when clean."""
    result = helm("lint", str(deployment.chart_dir), "--strict", *_layered_args(deployment, kube_version))
    problems = [match["message"] for match in LINT_PROBLEM.finditer(result.stdout + result.stderr)]
    if result.returncode != 0 and not problems:
        problems = [helm_error(result.stderr or result.stdout)]
    return problems


def helm_error(stderr: str) -> str:
    """Helm's reason for failing: its last line, without the ``Error:`` prefix."""
    return last_line(stderr, "helm failed without a message").removeprefix("Error: ")


def chart_exists(deployment: Deployment) -> bool:
    return (deployment.chart_dir / "Chart.yaml").is_file()


def render_key(deployment: Deployment, kube_version: str = KUBE_VERSION) -> str:
    """A hash of everything ``helm template`` reads for ``deployment``: the chart's files that its
    ``.helmignore`` leaves in, the value files, the release, namespace and Kubernetes version."""
    digest = hashlib.sha256(f"{kube_version} {deployment.release} {deployment.namespace}".encode())
    inputs = list(chart_files(deployment.chart_dir)) if deployment.chart_dir.is_dir() else []
    for path in [*inputs, *deployment.value_files]:
        digest.update(str(path.relative_to(deployment.root)).encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()
