"""GitOps suite fixtures: the repository's GitOps objects and the strict schema store for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tooling.infra.schemas import SchemaStore, default_locations
from tooling.model import GITOPS_DIRS, KUBE_VERSION, REPO_ROOT

GITOPS_FOLDERS = GITOPS_DIRS


@pytest.fixture(scope="session")
def gitops_objects() -> list[tuple[Path, dict[str, Any]]]:
    """Every YAML object in the GitOps folders, with the file it came from."""
    found = []
    for folder in GITOPS_FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*.yaml")):
            found.extend((path, doc) for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict))
    return found


@pytest.fixture(scope="session")
def schema_store() -> SchemaStore:
    return SchemaStore(default_locations(REPO_ROOT), KUBE_VERSION)
