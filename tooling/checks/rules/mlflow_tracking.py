"""MLflow tracking: the serving app and the pipeline talk to their own environment's MLflow."""

from __future__ import annotations

from collections.abc import Iterator

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, configmaps, manifest_finding
from tooling.infra.k8s import container_env, containers, pod_spec
from tooling.infra.repository import Repository
from tooling.model import mlflow_service_url

CLIENTS = ("fastapi", "airflow")
"""The components that read MLFLOW_TRACKING_URI."""


def check_mlflow_uri(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        if deployment.component not in CLIENTS:
            continue
        expected = mlflow_service_url(deployment.env)
        known_configmaps = configmaps(manifests)
        seen = False
        for manifest in manifests:
            spec = pod_spec(manifest.obj)
            for container in containers(spec) if spec is not None else ():
                value = container_env(container, known_configmaps).get("MLFLOW_TRACKING_URI", "<unset>")
                if value == "<unset>":
                    continue
                seen = True
                if value != expected:
                    yield manifest_finding(
                        manifest,
                        deployment.namespace,
                        "mlflow-uri",
                        f"container {container.get('name')} has MLFLOW_TRACKING_URI={value!r}, "
                        f"not {deployment.env}'s MLflow {expected}",
                    )
        if not seen and manifests:
            yield Finding(
                f"charts/{deployment.component}",
                deployment.release,
                "mlflow-uri",
                f"no container sets MLFLOW_TRACKING_URI (expected {expected})",
            )


RULES = (
    Rule("mlflow-uri", "fastapi and airflow talk to their own env's MLflow Service FQDN", check_mlflow_uri),
)
