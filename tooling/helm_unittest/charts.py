"""The chart tree the plugin loads: the chart, its subcharts (directories, packaged ``.tgz``), templates.

Template keys are the plugin's: ``<chart>/templates/x.yaml`` and ``<chart>/charts/<sub>/templates/y.yaml``.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling.helm_unittest.yamlcompat import load
from tooling.infra.archives import extract
from tooling.infra.helmignore import chart_files, chart_patterns, is_ignored


@dataclass
class ChartNode:
    name: str
    route: str
    directory: Path
    metadata: dict[str, Any]
    templates: list[str]
    subcharts: list[ChartNode] = field(default_factory=list)

    def walk(self) -> list[ChartNode]:
        return [self, *(node for sub in self.subcharts for node in sub.walk())]


class ChartError(Exception):
    """A chart that cannot be loaded (no Chart.yaml, a broken package)."""


def expand(chart_dir: Path, workspace: Path) -> Path:
    """A copy of ``chart_dir`` with every packaged subchart unpacked, so templates can be filtered."""
    target = workspace / "expanded" / chart_dir.name
    if target.exists():
        return target
    shutil.copytree(chart_dir, target, symlinks=False)
    for package in sorted(target.rglob("charts/*.tgz")):
        with tarfile.open(package) as archive, tempfile.TemporaryDirectory(dir=workspace) as unpacked:
            extract(archive, Path(unpacked))
            for top in Path(unpacked).iterdir():
                destination = package.parent / top.name
                if not destination.exists():
                    shutil.move(str(top), destination)
        package.unlink()
    return target


def load_tree(directory: Path, route: str | None = None) -> ChartNode:
    chart_file = directory / "Chart.yaml"
    if not chart_file.is_file():
        raise ChartError(f"{directory}: no Chart.yaml")
    metadata = load(chart_file.read_text()) or {}
    name = str(metadata.get("name") or directory.name)
    route = route or name
    loaded = (path.relative_to(directory) for path in chart_files(directory))
    templates = sorted(path.as_posix() for path in loaded if path.parts[0] == "templates")
    node = ChartNode(name=name, route=route, directory=directory, metadata=metadata, templates=templates)
    charts_dir = directory / "charts"
    if charts_dir.is_dir() and not is_ignored(chart_patterns(directory), "charts", is_dir=True):
        for sub in sorted(charts_dir.iterdir()):
            if (sub / "Chart.yaml").is_file():
                sub_metadata = load((sub / "Chart.yaml").read_text()) or {}
                sub_name = str(sub_metadata.get("name") or sub.name)
                node.subcharts.append(load_tree(sub, f"{route}/charts/{sub_name}"))
    return node


def template_pattern(name: str) -> str:
    """The plugin's template-name-to-regex rule (an unanchored search, ``*`` crossing directories)."""
    pattern = name.replace(".", "\\.").replace("+", "\\+").replace("[", "\\[").replace("]", "\\]")
    pattern = pattern.replace("**", "[0-9a-zA-Z_\\-/\\.]+").replace("*", "[0-9a-zA-Z_\\-_/\\.]*")
    for special in "?()|{}^$":
        pattern = pattern.replace(special, "\\" + special)
    return pattern


def template_file_name(name: str) -> str:
    """Names without a ``templates/``, ``charts/``, ``crds/`` or ``**`` prefix are under ``templates/``."""
    if name.startswith(("templates", "charts", "crds", "**")):
        return name
    return f"templates/{name}"
