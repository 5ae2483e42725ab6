"""Where things are in this repository: the one place that knows its folders.

Paths of the checkout the tooling runs from (``REPO_ROOT``); folders that hold repository content are also
given as names relative to any checkout, because the validator and promotion read other checkouts too.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARTS = "charts"
ENVIRONMENTS_DIR = "environments"
APPLICATIONSETS_DIR = "applicationsets"
SEALED_SECRETS_DIR = "sealed-secrets"
METALLB_DIR = "metallb"
GITOPS_DIRS: tuple[str, ...] = ("apps", APPLICATIONSETS_DIR, METALLB_DIR, SEALED_SECRETS_DIR)
"""The folders that hold only Kubernetes objects Argo CD applies (every document in them must be one)."""

APP_DIR = REPO_ROOT / CHARTS / "fastapi" / "app"
"""The serving app's source: the image's working directory (``uvicorn main:app`` runs from here)."""
DAGS_DIR = REPO_ROOT / CHARTS / "airflow" / "dags"
"""The Airflow DAGs folder; ``mlpipeline`` (training, registry, replicas) lives in it."""
TOOLS_DIR = REPO_ROOT / ".tools"
"""Tools ``bin/bootstrap`` installs: helm, actionlint, kubeseal-encrypt, caches."""
AIRFLOW_VENV = REPO_ROOT / ".venv-airflow"
CHECKOV_VENV = REPO_ROOT / ".venv-checkov"
REQUIREMENTS_DIR = REPO_ROOT / "requirements"
DOCS_DIR = REPO_ROOT / "docs"


def shared_dir(repo: Path = REPO_ROOT) -> Path:
    """Material that lives beside a checkout, not in it: CRD schemas, the helm-unittest conformance corpus."""
    return repo.parent / "shared"


def crd_schemas_dir(repo: Path) -> Path:
    """CRD schemas beside a checkout (kubeconform's ``{group}/{kind}_{version}.json`` layout)."""
    return shared_dir(repo) / "crd-schemas"
