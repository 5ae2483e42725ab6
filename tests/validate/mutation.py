"""Mutation cases: a small edit to a copy of the repository that one named check must flag.

A case is a YAML file in ``mutations/``::

    rule: prod-ingress-whitelist        # the finding's rule id (or its prefix before ':' for tool rules)
    why: one line
    edits:
      - file: environments/prod/fastapi.yaml
        replace: {old: "whitelistSourceRange:", new: "whitelistSourceRangeX:"}   # exactly one occurrence
      - file: metallb/prod/pool.yaml
        set: {document: 0, path: [spec, addresses, 0], value: 10.0.0.0/8}      # YAML path set
      - file: apps/projects.yaml
        delete: {document: 1, path: [spec, clusterResourceWhitelist, 0]}
      - file: sealed-secrets/dev/stray.yaml
        create: |
          apiVersion: v1
          ...
      - file: sealed-secrets/dev/x.yaml
        remove: true
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tooling.model import CHARTS, ENVIRONMENTS_DIR, GITOPS_DIRS

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "mutations"
COPIED = (CHARTS, ENVIRONMENTS_DIR, *GITOPS_DIRS, ".github", ".yamllint.yaml", "tooling")
"""What the validator reads, and the validator itself (a copy judges its own app settings); the rest of
the repository stays behind."""
FAMILY = {"helm-lint": "helm", "schema": "schema", "schema-missing": "schema", "yaml-parse": "schema"}


@dataclass(frozen=True)
class Case:
    name: str
    rule: str
    why: str
    edits: list[dict[str, Any]]

    @property
    def check(self) -> str:
        """The validator's check family that reports this rule (the rest are skipped to keep cases fast)."""
        tool = self.rule.split(":", 1)[0]
        if tool in ("yamllint", "hadolint", "actionlint", "checkov"):
            return tool
        return FAMILY.get(self.rule, "rules")


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(CASES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        cases.append(Case(path.stem, str(data["rule"]), str(data["why"]), list(data["edits"])))
    return cases


def copy_repository(destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, destination / name)
    return destination


def apply(case: Case, root: Path) -> None:
    for edit in case.edits:
        target = root / edit["file"]
        if "create" in edit:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(edit["create"])
        elif edit.get("remove"):
            target.unlink()
        elif "replace" in edit:
            text, old, new = target.read_text(), edit["replace"]["old"], edit["replace"]["new"]
            if text.count(old) != 1:
                raise AssertionError(f"{case.name}: {old!r} occurs {text.count(old)} times in {edit['file']}")
            target.write_text(text.replace(old, new))
        else:
            _edit_yaml(case.name, target, edit)


def _edit_yaml(name: str, target: Path, edit: dict[str, Any]) -> None:
    operation = edit.get("set") or edit.get("delete")
    if operation is None:
        raise AssertionError(f"{name}: an edit needs one of create, remove, replace, set, delete")
    documents = list(yaml.safe_load_all(target.read_text()))
    *parents, last = operation["path"]
    node = documents[operation.get("document", 0)]
    for key in parents:
        node = node[key]
    if "set" in edit:
        node[last] = operation["value"]
    else:
        del node[last]
    target.write_text(yaml.safe_dump_all(documents, sort_keys=False))
