"""Put trained iris models into a registry: new versions of a registered model, aliases moved onto them.

Training and the registry calls are the pipeline's own code (``mlpipeline.training``, ``mlpipeline.registry``
in ``charts/airflow/dags``), so the demo and the tests serve exactly what the DAG produces, registered the
way the DAG registers it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import mlflow
import mlflow.pyfunc
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import infer_signature
from sklearn.datasets import load_iris

from mlpipeline import registry
from mlpipeline.training import TrainingResult, train_and_log
from tooling.model import DEFAULT_MODEL_NAME

# The run links mlflow prints after every training run are noise here.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
READY_POLL_SECONDS = 0.2
SERVE_MODELS_FROM_CODE = {"ALLOW_CODE_EXECUTING_MODELS": "true"}
"""The serving app's opt-in to load models from code, like ``faulty_model.py`` (loading one runs its code):
only an app that is meant to serve such a test model gets it; every environment and every other app leaves it
off, so those refuse such a version."""
FAULTY_MODEL_CODE = Path(__file__).with_name("faulty_model.py")
FAULTY_EXPERIMENT = "faulty-candidates"


def register_version(
    tracking_uri: str, model_name: str, *, c: float = 1.0, max_iter: int = 200, timeout: float = 60.0
) -> ModelVersion:
    """Train, log and register one model version; return it once the registry says READY."""
    trained = train_and_log(tracking_uri, c=c, max_iter=max_iter)
    return _register_ready(tracking_uri, model_name, trained, timeout)


def register_faulty_version(tracking_uri: str, model_name: str, timeout: float = 60.0) -> ModelVersion:
    """Register the deliberately bad candidate of ``faulty_model.py`` (fails on long petals); READY.

    A model from code: an app serves it only with ``SERVE_MODELS_FROM_CODE`` in its settings."""
    features, labels = load_iris(return_X_y=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(FAULTY_EXPERIMENT)
    with mlflow.start_run() as run:
        logged = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(FAULTY_MODEL_CODE),
            signature=infer_signature(features, labels),
            input_example=features[:1],
            pip_requirements=[f"mlflow-skinny=={mlflow.__version__}"],
        )
    trained = TrainingResult(run.info.run_id, 0.0, logged.model_uri, logged.model_id)
    return _register_ready(tracking_uri, model_name, trained, timeout)


def _register_ready(
    tracking_uri: str, model_name: str, trained: TrainingResult, timeout: float
) -> ModelVersion:
    version = registry.register(
        tracking_uri,
        model_name,
        model_uri=trained.model_uri,
        run_id=trained.run_id,
        model_id=trained.model_id,
    )
    deadline = time.monotonic() + timeout
    while not registry.is_ready(tracking_uri, model_name, version):
        if time.monotonic() > deadline:
            raise registry.RegistryError(f"{model_name} v{version} is not READY after {timeout:g} s")
        time.sleep(READY_POLL_SECONDS)
    return registry.client(tracking_uri).get_model_version(model_name, version)


def point_alias(tracking_uri: str, model_name: str, alias: str, version: str) -> None:
    registry.move_alias(tracking_uri, model_name, alias, version)


def seed_variants(tracking_uri: str, model_name: str = DEFAULT_MODEL_NAME) -> dict[str, str]:
    """Two versions (different regularisation), alias A on the first, B on the second."""
    versions = {}
    for alias, c in (("A", 1.0), ("B", 0.5)):
        version = register_version(tracking_uri, model_name, c=c)
        point_alias(tracking_uri, model_name, alias, version.version)
        versions[alias] = version.version
    return versions
