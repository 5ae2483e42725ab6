"""What an Argo CD directory source applies: the one definition the validator's rules and the promotion diff
share.

A source with a ``path`` and no ``chart`` whose folder is not a Helm chart (no ``Chart.yaml``) is a
directory source. Argo CD reads every ``*.yaml``, ``*.yml``, ``*.json`` and ``*.jsonnet`` file of its folder
(of its subfolders too with ``directory.recurse``) whose path relative to the folder matches
``directory.include`` (when set) and not ``directory.exclude``. The validator reads ``.yaml`` files as objects
and the promotion diff shows ``.yaml`` files, so every directory source here sets ``include`` to ``*.yaml``
(or to one named ``.yaml`` file) and no other manifest file lives where one syncs (rules
``argocd-directory-include`` and ``argocd-directory-files``): what Argo CD applies, what the validator judges
and what a promotion shows are the same files.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from tooling.infra.k8s import mapping

DIRECTORY_INCLUDE = "*.yaml"
"""The ``directory.include`` of every directory source: the files the validator and the promotion read."""
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json", ".jsonnet")
"""What Argo CD reads as manifests in a directory source's folder (before ``include`` narrows it)."""


def is_directory_source(root: Path, source: Mapping[str, Any]) -> bool:
    """A source Argo CD applies as plain files: a path in the repository that is not a Helm chart's folder."""
    path = source.get("path")
    return bool(path) and "chart" not in source and not (root / str(path) / "Chart.yaml").is_file()


def manifest_files(root: Path, source: Mapping[str, Any]) -> list[Path]:
    """Every file of the source's folder Argo CD would read as a manifest if ``include`` did not narrow it."""
    folder = root / str(source.get("path"))
    recurse = mapping(source.get("directory")).get("recurse") is True
    candidates = folder.rglob("*") if recurse else folder.glob("*")
    return sorted(path for path in candidates if path.suffix in MANIFEST_SUFFIXES and path.is_file())


def applied_files(root: Path, source: Mapping[str, Any]) -> list[Path]:
    """The files Argo CD applies from a directory source of the checkout at ``root``, as it selects them.

    Patterns are matched as ``fnmatch`` reads them, which agrees with Argo CD's glob on what the rules admit
    (``*.yaml`` and plain file names; ``*`` crosses ``/`` in both).
    """
    directory = mapping(source.get("directory"))
    include, exclude = directory.get("include"), directory.get("exclude")
    folder = root / str(source.get("path"))
    return [
        path
        for path in manifest_files(root, source)
        if (not include or fnmatchcase(relative_to(path, folder), str(include)))
        and not (exclude and fnmatchcase(relative_to(path, folder), str(exclude)))
    ]


def relative_to(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()
