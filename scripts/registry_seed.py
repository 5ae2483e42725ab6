"""Put trained iris models into a registry: new versions of a registered model, aliases moved onto them.

Training is the pipeline's own code (``charts/airflow/dags/mlpipeline``), so the demo and the tests serve
exactly what the DAG produces.
"""

from __future__ import annotations

import os
import sys
import time

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from scripts.localstack import REPO_ROOT

# The run links mlflow prints after every training run are noise here.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
sys.path.insert(0, str(REPO_ROOT / "charts" / "airflow" / "dags"))
from mlpipeline.training import train_and_log


def register_version(
    tracking_uri: str, model_name: str, *, c: float = 1.0, max_iter: int = 200, timeout: float = 60.0
) -> ModelVersion:
    """Train, log and register one model version; return it once the registry says READY."""
    trained = train_and_log(tracking_uri, c=c, max_iter=max_iter)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        client.get_registered_model(model_name)
    except Exception:
        client.create_registered_model(model_name)
    version = client.create_model_version(
        model_name, trained.model_uri, run_id=trained.run_id, model_id=trained.model_id
    )
    deadline = time.monotonic() + timeout
    while version.status != "READY":
        if version.status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            raise RuntimeError(f"{model_name} v{version.version} is {version.status}")
        time.sleep(0.2)
        version = client.get_model_version(model_name, version.version)
    return version


def point_alias(tracking_uri: str, model_name: str, alias: str, version: str) -> None:
    MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(
        model_name, alias, version
    )


def seed_variants(tracking_uri: str, model_name: str = "best_model") -> dict[str, str]:
    """Two versions (different regularisation), alias A on the first, B on the second."""
    versions = {}
    for alias, c in (("A", 1.0), ("B", 0.5)):
        version = register_version(tracking_uri, model_name, c=c)
        point_alias(tracking_uri, model_name, alias, version.version)
        versions[alias] = version.version
    return versions
