"""The shape of the platform, in one place: components, environments and how each pair is deployed.

The validator renders with these, the ApplicationSet generates Applications with the same names, namespaces
and value files, and a test holds the two together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tooling.model.paths import CHARTS, ENVIRONMENTS_DIR, REPO_ROOT

COMPONENTS: tuple[str, ...] = ("fastapi", "mlflow", "airflow")
ENVIRONMENTS: tuple[str, ...] = ("dev", "prod")
PROD = "prod"
KUBE_VERSION = "1.31.0"
"""The Kubernetes version charts are rendered and validated for (helm --kube-version, the schemas)."""
DEFAULT_MODEL_NAME = "best_model"
"""The registered model the app serves and the pipeline trains, unless configured otherwise."""


def namespace(component: str, env: str) -> str:
    """Each component of each environment has its own namespace, and its release has the same name."""
    return f"{component}-{env}"


def namespaces(env: str) -> list[str]:
    return [namespace(component, env) for component in COMPONENTS]


@dataclass(frozen=True)
class Deployment:
    component: str
    env: str
    root: Path = REPO_ROOT
    """The repository checkout to deploy from (promotion renders another commit's checkout)."""

    @property
    def release(self) -> str:
        return namespace(self.component, self.env)

    @property
    def namespace(self) -> str:
        return namespace(self.component, self.env)

    @property
    def chart_dir(self) -> Path:
        return self.root / CHARTS / self.component

    @property
    def value_files(self) -> tuple[Path, ...]:
        """Layered in this order: the chart's defaults, then the environment's file."""
        return (
            self.chart_dir / "values.yaml",
            self.root / ENVIRONMENTS_DIR / self.env / f"{self.component}.yaml",
        )


def mlflow_service_url(env: str) -> str:
    """The in-cluster MLflow URL every component of ``env`` must use (seed FQDN)."""
    mlflow = namespace("mlflow", env)
    return f"http://{mlflow}-service.{mlflow}.svc.cluster.local:5000"


def deployments(root: Path = REPO_ROOT) -> list[Deployment]:
    return [Deployment(component, env, root) for env in ENVIRONMENTS for component in COMPONENTS]
