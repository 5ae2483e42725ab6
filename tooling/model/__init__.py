"""Layer 0, the platform model: components, environments, names, namespaces and paths, each rule once.

Imports nothing from ``tooling``; everything else may import it.
"""

from tooling.model.deployments import (
    COMPONENTS,
    DEFAULT_MODEL_NAME,
    ENVIRONMENTS,
    KUBE_VERSION,
    PROD,
    Deployment,
    deployments,
    mlflow_service_url,
    namespace,
    namespaces,
)
from tooling.model.paths import (
    AIRFLOW_VENV,
    APP_DIR,
    APPLICATIONSETS_DIR,
    CHARTS,
    CHECKOV_VENV,
    DAGS_DIR,
    DOCS_DIR,
    ENVIRONMENTS_DIR,
    GITOPS_DIRS,
    METALLB_DIR,
    REPO_ROOT,
    REQUIREMENTS_DIR,
    SEALED_SECRETS_DIR,
    TOOLS_DIR,
    crd_schemas_dir,
    shared_dir,
)

__all__ = [
    "AIRFLOW_VENV",
    "APPLICATIONSETS_DIR",
    "APP_DIR",
    "CHARTS",
    "CHECKOV_VENV",
    "COMPONENTS",
    "DAGS_DIR",
    "DEFAULT_MODEL_NAME",
    "DOCS_DIR",
    "ENVIRONMENTS",
    "ENVIRONMENTS_DIR",
    "GITOPS_DIRS",
    "KUBE_VERSION",
    "METALLB_DIR",
    "PROD",
    "REPO_ROOT",
    "REQUIREMENTS_DIR",
    "SEALED_SECRETS_DIR",
    "TOOLS_DIR",
    "Deployment",
    "crd_schemas_dir",
    "deployments",
    "mlflow_service_url",
    "namespace",
    "namespaces",
    "shared_dir",
]
