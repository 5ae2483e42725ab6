"""Put trained iris models into a registry: new versions of a registered model, aliases moved onto them.

Training and the registry calls are the pipeline's own code (``mlpipeline.training``, ``mlpipeline.registry``
in ``charts/airflow/dags``), so the demo and the tests serve exactly what the DAG produces, registered the
way the DAG registers it.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd
import sklearn
import skops
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import infer_signature
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

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


TYPED_EXPERIMENT = "typed-models"
TYPED_ROWS = [
    {"color": "red", "size": 3, "weight": 4.5},
    {"color": "blue", "size": 7, "weight": 7.5},
]
"""Two rows for the mixed-type model: a string, an integer and a float column."""


def _log_skops_model(tracking_uri: str, estimator: Any, features: Any, example: Any) -> TrainingResult:
    """Log a fitted estimator as the pipeline does (skops, a signature, an input example)."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(TYPED_EXPERIMENT)
    with warnings.catch_warnings():  # the integer column is meant: the hint about missing values is noise
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        signature = infer_signature(features, estimator.predict(features))
    with mlflow.start_run() as run:
        logged = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=signature,
            input_example=example,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"skops=={skops.__version__}"],
        )
    return TrainingResult(run.info.run_id, 0.0, logged.model_uri, logged.model_id)


def register_mixed_types_version(tracking_uri: str, model_name: str, timeout: float = 60.0) -> ModelVersion:
    """A model of named columns of three types (``color`` string, ``size`` long, ``weight`` double) that
    answers string labels ("cheap" / "pricey"): one-hot colours and logistic regression, fitted on a
    DataFrame. READY."""
    generator = np.random.default_rng(7)
    colors = generator.choice(["red", "green", "blue"], 300)
    weights = generator.normal(5.0, 2.0, 300)
    frame = pd.DataFrame(
        {"color": colors, "size": generator.integers(1, 10, 300).astype("int64"), "weight": weights}
    )
    labels = np.where((colors == "red") | (weights > 6.0), "pricey", "cheap")
    encode_colors = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["color"]), remainder="passthrough"
    )
    estimator = make_pipeline(encode_colors, LogisticRegression(max_iter=500)).fit(frame, labels)
    trained = _log_skops_model(tracking_uri, estimator, frame, frame.head(1))
    return _register_ready(tracking_uri, model_name, trained, timeout)


def register_float32_tensor_version(
    tracking_uri: str, model_name: str, timeout: float = 60.0
) -> ModelVersion:
    """An iris classifier whose signature is a float32 tensor of shape (-1, 4). READY."""
    features, labels = load_iris(return_X_y=True)
    features = features.astype(np.float32)
    estimator = LogisticRegression(max_iter=300).fit(features, labels)
    trained = _log_skops_model(tracking_uri, estimator, features, features[:1])
    return _register_ready(tracking_uri, model_name, trained, timeout)
