"""Airflow's auth manager: the FAB auth manager (users from a SealedSecret), never the development default."""

from __future__ import annotations

from collections.abc import Iterator

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, configmaps, manifest_finding
from tooling.infra.k8s import container_env, containers, pod_spec
from tooling.infra.repository import Repository

AUTH_MANAGER_VARIABLE = "AIRFLOW__CORE__AUTH_MANAGER"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
"""The production auth manager the Airflow image installs (apache-airflow-providers-fab)."""


def check_airflow_auth_manager(repo: Repository) -> Iterator[Finding]:
    """Every Airflow container runs the FAB auth manager: unset means SimpleAuthManager, whose password is
    regenerated on each restart and printed to the log (Airflow calls it development only)."""
    for deployment, manifests in repo.rendered.items():
        if deployment.component != "airflow":
            continue
        known_configmaps = configmaps(manifests)
        for manifest in manifests:
            spec = pod_spec(manifest.obj)
            for container in containers(spec) if spec is not None else ():
                value = container_env(container, known_configmaps).get(AUTH_MANAGER_VARIABLE)
                if value != FAB_AUTH_MANAGER:
                    shown = "unset (Airflow's default SimpleAuthManager)" if value is None else repr(value)
                    yield manifest_finding(
                        manifest,
                        deployment.namespace,
                        "airflow-auth-manager",
                        f"container {container.get('name')} has {AUTH_MANAGER_VARIABLE} {shown}, "
                        f"not {FAB_AUTH_MANAGER}",
                    )


RULES = (
    Rule(
        "airflow-auth-manager",
        "Airflow runs the FAB auth manager, never SimpleAuthManager (development only)",
        check_airflow_auth_manager,
    ),
)
