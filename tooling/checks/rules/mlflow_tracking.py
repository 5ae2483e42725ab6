"""MLflow tracking: the serving app and the pipeline talk to their own environment's MLflow, as a user whose
credentials come from a Secret, and that MLflow runs its own authentication (the ingress is no barrier)."""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from typing import Any

from tooling.checks.findings import Finding
from tooling.checks.rules.base import Rule, configmaps, manifest_finding
from tooling.infra.k8s import FROM_SECRET, container_env, containers, pod_spec, sequence
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


CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
"""Where every MLflow client reads its basic-auth user."""

AUTH_APP = "basic-auth"
AUTH_SETTINGS = ("MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY")


def check_mlflow_credentials(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        if deployment.component not in CLIENTS:
            continue
        known_configmaps = configmaps(manifests)
        for manifest in manifests:
            spec = pod_spec(manifest.obj)
            for container in containers(spec) if spec is not None else ():
                env = container_env(container, known_configmaps)
                if "MLFLOW_TRACKING_URI" not in env:
                    continue
                for name in CREDENTIALS:
                    problem = "is not set" if name not in env else "is not from a Secret"
                    if name not in env or env[name] is not FROM_SECRET:
                        yield manifest_finding(
                            manifest,
                            deployment.namespace,
                            "mlflow-credentials",
                            f"container {container.get('name')} talks to MLflow but {name} {problem} "
                            "(secretKeyRef to its MLflow user's Secret)",
                        )


WORKSPACES = "--enable-workspaces"
"""Without it MLflow lets every signed-in user create experiments and registered models (and own them): the
reader could register the name an app serves before the writer does."""
AUTH_CONFIG = "basic_auth.ini"
NON_WRITING_DEFAULTS = ("READ", "NO_PERMISSIONS")
"""The default permissions that neither write nor create (USE creates in the workspace, EDIT writes)."""


def _runs_auth_app(args: list[str]) -> bool:
    pairs = zip(args, [*args[1:], ""], strict=True)
    return f"--app-name={AUTH_APP}" in args or any(a == "--app-name" and b == AUTH_APP for a, b in pairs)


def _auth_problems(container: dict[str, Any], env: dict[str, str | None]) -> Iterator[str]:
    if not _runs_auth_app([str(part) for part in sequence(container.get("args"))]):
        yield (
            f"runs `mlflow server` without --app-name={AUTH_APP}: anyone who reaches it can register a "
            "version and move an alias"
        )
    if WORKSPACES not in [str(part) for part in sequence(container.get("args"))]:
        yield (
            f"runs `mlflow server` without {WORKSPACES}: every signed-in user, the read-only one included, "
            "can create (and own) experiments and registered models"
        )
    for name in AUTH_SETTINGS:
        if name not in env:
            yield f"does not set {name}"
        elif name != "MLFLOW_AUTH_CONFIG_PATH" and env[name] is not FROM_SECRET:
            yield f"sets {name} outside a Secret"


def _config_problems(ini: str) -> Iterator[str]:
    config = configparser.ConfigParser(interpolation=None)
    try:
        config.read_string(ini)
    except configparser.Error as error:
        yield f"holds a {AUTH_CONFIG} that is not an ini file ({type(error).__name__})"
        return
    default = config.get("mlflow", "default_permission", fallback="<unset>")
    if default not in NON_WRITING_DEFAULTS:
        yield (
            f"sets default_permission = {default} in {AUTH_CONFIG}: a user nobody granted anything must hold "
            f"{' or '.join(NON_WRITING_DEFAULTS)}, which neither write nor create"
        )


def check_mlflow_auth(repo: Repository) -> Iterator[Finding]:
    for deployment, manifests in repo.rendered.items():
        if deployment.component != "mlflow":
            continue
        known_configmaps = configmaps(manifests)
        for configmap in known_configmaps.values():
            ini = (configmap.get("data") or {}).get(AUTH_CONFIG)
            if ini is None:
                continue
            [manifest] = [m for m in manifests if m.obj is configmap]
            for problem in _config_problems(str(ini)):
                reason = f"ConfigMap {configmap.get('metadata', {}).get('name')} {problem}"
                yield manifest_finding(manifest, deployment.namespace, "mlflow-auth", reason)
        for manifest in manifests:
            if manifest.obj.get("kind") != "Deployment" or (spec := pod_spec(manifest.obj)) is None:
                continue
            for container in containers(spec):
                if "server" not in [str(part) for part in sequence(container.get("command"))]:
                    continue
                for problem in _auth_problems(container, container_env(container, known_configmaps)):
                    reason = f"container {container.get('name')} {problem}"
                    yield manifest_finding(manifest, deployment.namespace, "mlflow-auth", reason)


RULES = (
    Rule("mlflow-uri", "fastapi and airflow talk to their own env's MLflow Service FQDN", check_mlflow_uri),
    Rule(
        "mlflow-credentials",
        "every container that talks to MLflow reads its user and password from a Secret",
        check_mlflow_credentials,
    ),
    Rule(
        "mlflow-auth",
        "the MLflow server runs its basic-auth app with workspaces on (creating takes a grant), a default "
        "permission that neither writes nor creates, and its admin and signing key from a Secret",
        check_mlflow_auth,
    ),
)
