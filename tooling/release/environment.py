"""The release policy of an environment, exactly as its pipeline receives it: the rendered scheduler's env.

``make release ENV=prod`` must apply the policy the DAG in prod applies. Rather than re-reading the values
files and re-implementing the chart's mapping to ``RELEASE_*`` variables, this renders the airflow chart for
the environment with real Helm and reads the variables the scheduler container gets.
"""

from __future__ import annotations

from collections.abc import Mapping

from tooling.infra.helm import render_manifests
from tooling.infra.k8s import container_env, containers, name_of, pod_spec
from tooling.model import ENVIRONMENTS, Deployment

SCHEDULER_SUFFIX = "-scheduler"
RELEASE_PREFIX = "RELEASE_"
# Airflow Variables the release reads, renamed to the variables the controller takes.
VARIABLES = {"AIRFLOW_VAR_MODEL_NAME": "MODEL_NAME", "AIRFLOW_VAR_MLFLOW_ALIAS": "ALIAS"}


class UnknownEnvironment(ValueError):
    """The environment is unknown or its rendered scheduler carries no release policy; one line."""


def release_defaults(env: str) -> dict[str, str]:
    """``RELEASE_*``, ``MODEL_NAME`` and ``ALIAS`` as the pipeline of ``env`` sees them."""
    if env not in ENVIRONMENTS:
        raise UnknownEnvironment(f"not an environment ({', '.join(ENVIRONMENTS)})")
    objects = render_manifests(Deployment("airflow", env))
    for obj in objects:
        spec = pod_spec(obj)
        if obj.get("kind") != "Deployment" or spec is None or not name_of(obj).endswith(SCHEDULER_SUFFIX):
            continue
        for container in containers(spec):
            found = _release_variables(container_env(container, {}))
            if found:
                return found
    raise UnknownEnvironment(f"environments/{env}/airflow.yaml: the scheduler has no RELEASE_* variables")


def _release_variables(env: Mapping[str, str | None]) -> dict[str, str]:
    found = {name: value for name, value in env.items() if name.startswith(RELEASE_PREFIX) and value}
    found |= {ours: value for theirs, ours in VARIABLES.items() if (value := env.get(theirs))}
    return found if any(name.startswith(RELEASE_PREFIX) for name in found) else {}
