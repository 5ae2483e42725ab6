"""The shape of the platform, in one place: components, environments and how each pair is deployed.

The validator renders with these, the ApplicationSet generates Applications with the same names, namespaces
and value files, and a test holds the two together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPONENTS: tuple[str, ...] = ("fastapi", "mlflow", "airflow")
ENVIRONMENTS: tuple[str, ...] = ("dev", "prod")
KUBE_VERSION = "1.31.0"
"""The Kubernetes version charts are rendered and validated for (helm --kube-version, the schemas)."""


@dataclass(frozen=True)
class Deployment:
    component: str
    env: str
    root: Path = REPO_ROOT
    """The repository checkout to deploy from (promotion renders another commit's checkout)."""

    @property
    def release(self) -> str:
        return f"{self.component}-{self.env}"

    @property
    def namespace(self) -> str:
        return f"{self.component}-{self.env}"

    @property
    def chart_dir(self) -> Path:
        return self.root / "charts" / self.component

    @property
    def value_files(self) -> tuple[Path, ...]:
        """Layered in this order: the chart's defaults, then the environment's file."""
        return (
            self.chart_dir / "values.yaml",
            self.root / "environments" / self.env / f"{self.component}.yaml",
        )


def mlflow_service_url(env: str) -> str:
    """The in-cluster MLflow URL every component of ``env`` must use (seed FQDN)."""
    return f"http://mlflow-{env}-service.mlflow-{env}.svc.cluster.local:5000"


def deployments(root: Path = REPO_ROOT) -> list[Deployment]:
    return [Deployment(component, env, root) for env in ENVIRONMENTS for component in COMPONENTS]
