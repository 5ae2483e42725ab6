"""What the app agrees to load, on a real app process against the real MLflow server.

A version is loaded only from the registry's own artifact store, only in a format that cannot run code when
loaded (sklearn through skops, with the types the app trusts) unless ``ALLOW_CODE_EXECUTING_MODELS`` opts in,
and only if its smoke prediction is answerable as JSON. Every refusal is a failed reload: the old model serves
on. The malicious models here write a marker file when unpickled or imported: its absence proves nothing ran.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import httpx
import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.models import infer_signature
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from tests.app.conftest import StartApp
from tests.app.support import TOKEN, models, predict, register_code_version, reload
from tooling.infra.localstack import MlflowServer, ServerProcess, app_server
from tooling.infra.registry_seed import SERVE_MODELS_FROM_CODE, point_alias, seed_variants

pytestmark = pytest.mark.slow

MODEL = "trust_model"
OPT_IN = "ALLOW_CODE_EXECUTING_MODELS=true"
SKOPS = mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS
CLOUDPICKLE = mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
UNTRUSTED = "skops file holds types the app does not trust"
FEATURES, LABELS = load_iris(return_X_y=True)
SIGNATURE = infer_signature(FEATURES)

# Unpickling a Malicious object calls _planted, which writes the marker and hands back a model that works, so
# with the opt-in it loads and serves (the marker then proves its code ran). cloudpickle stores this module's
# code by value: the app process unpickles it without importing anything of the tests.
PAYLOAD = """
import pathlib

import numpy as np
from mlflow.pyfunc import PythonModel
from sklearn.dummy import DummyClassifier


class Harmless(PythonModel):
    def predict(self, context, model_input, params=None):
        return np.zeros(len(model_input), dtype=np.int64)


def _planted(marker):
    pathlib.Path(marker).write_text("code ran when the model was loaded")
    return Harmless()


def _planted_estimator(marker):
    pathlib.Path(marker).write_text("code ran when the model was loaded")
    return DummyClassifier(strategy="constant", constant=0).fit(np.zeros((3, 4)), [0, 1, 2])


class MaliciousPyfunc(Harmless):
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return _planted, (self.marker,)


class MaliciousEstimator(DummyClassifier):
    def __init__(self, marker=""):
        self.marker = marker

    def __reduce__(self):
        return _planted_estimator, (self.marker,)
"""

# A model from code runs its file when it loads; MLflow also runs it when logging, so the marker's path comes
# from a variable only the app process has.
CODE_PAYLOAD = """
import os
import pathlib

import numpy as np
import mlflow
from mlflow.pyfunc import PythonModel

if os.environ.get("TRUST_TEST_MARKER"):
    pathlib.Path(os.environ["TRUST_TEST_MARKER"]).write_text("code ran when the model was loaded")


class Harmless(PythonModel):
    def predict(self, context, model_input, params=None):
        return np.zeros(len(model_input), dtype=np.int64)


mlflow.models.set_model(Harmless())
"""


def create_version(tracking_uri: str, name: str, logged: Any) -> str:
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    created = client.create_model_version(
        name, logged.model_uri, run_id=logged.run_id, model_id=logged.model_id
    )
    return str(created.version)


def register_sklearn(
    tracking_uri: str,
    name: str,
    estimator: Any,
    experiment_id: str | None = None,
    serialization_format: str = SKOPS,
    signature: Any = SIGNATURE,
    **options: Any,
) -> str:
    """Log ``estimator`` as the pipeline does (skops unless told; explicit requirements, so nothing re-loads
    it) and register it."""
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id):
        logged = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=signature,
            pip_requirements=[],
            serialization_format=serialization_format,
            **options,
        )
    return create_version(tracking_uri, name, logged)


def save_sklearn(estimator: Any, path: Path) -> None:
    mlflow.sklearn.save_model(
        estimator, str(path), signature=SIGNATURE, pip_requirements=[], serialization_format=SKOPS
    )


def register_directory(tracking_uri: str, name: str, directory: Path) -> str:
    """Register a model directory as written by hand, through a run of its own."""
    run_id = empty_run(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.log_artifacts(run_id, str(directory), "model")
    return str(client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id).version)


def empty_run(tracking_uri: str) -> str:
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run() as run:
        return str(run.info.run_id)


def register_malicious(tracking_uri: str, name: str, kind: str, marker: Path, workdir: Path) -> str:
    """A version whose loading writes ``marker``: a cloudpickled pyfunc, a cloudpickled sklearn model, or a
    model from code."""
    if kind == "code":
        return register_code_version(tracking_uri, name, workdir / "planted_model.py", CODE_PAYLOAD)
    source = workdir / "planted_payload.py"
    source.write_text(PAYLOAD)
    spec = importlib.util.spec_from_file_location("planted_payload", source)
    assert spec is not None
    assert spec.loader is not None
    payload = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = payload
    try:
        spec.loader.exec_module(payload)
        cloudpickle.register_pickle_by_value(payload)
        if kind == "sklearn":
            estimator = payload.MaliciousEstimator(str(marker))
            return register_sklearn(tracking_uri, name, estimator, serialization_format=CLOUDPICKLE)
        mlflow.set_tracking_uri(tracking_uri)
        with mlflow.start_run():
            logged = mlflow.pyfunc.log_model(
                name="model",
                python_model=payload.MaliciousPyfunc(str(marker)),
                signature=SIGNATURE,
                pip_requirements=[],
            )
        return create_version(tracking_uri, name, logged)
    finally:
        cloudpickle.unregister_pickle_by_value(payload)
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def seeded(mlflow: ServerProcess) -> dict[str, str]:
    return seed_variants(mlflow.url, MODEL)


@pytest.fixture(scope="module")
def marker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def app(
    mlflow: MlflowServer, seeded: dict[str, str], tmp_path_factory: pytest.TempPathFactory, marker_dir: Path
) -> Iterator[ServerProcess]:
    """One app without the opt-in, shared by the refusals: each leaves the seeded @B serving."""
    point_alias(mlflow.url, MODEL, "B", seeded["B"])
    env = {
        **mlflow.serving_env(),
        "MODEL_NAME": MODEL,
        "RELOAD_SECRET_TOKEN": TOKEN,
        "TRUST_TEST_MARKER": str(marker_dir / "code.ran"),
    }
    with app_server(env, tmp_path_factory.mktemp("trust-app") / "app.log") as app:
        yield app


def assert_refused(app: ServerProcess, seeded: dict[str, str], *expected: str) -> str:
    """The reload of @B fails in one line holding ``expected``, and the seeded @B still answers."""
    response = reload(app, "B")
    assert response.status_code == 502, response.text
    detail: str = response.json()["detail"]
    assert "\n" not in detail
    assert "Traceback" not in response.text
    for part in expected:
        assert part in detail
    assert models(app)["B"] == seeded["B"]
    assert predict(app, path="/variant/B/predict").json()["version"] == seeded["B"]
    return detail


@pytest.mark.parametrize(
    ("kind", "described"),
    [
        ("pyfunc", "python_function model with a cloudpickled python_model"),
        ("sklearn", "sklearn model serialized with cloudpickle"),
        ("code", "python_function model from code"),
    ],
)
def test_a_model_whose_loading_runs_code_is_refused_before_it_runs(
    app: ServerProcess,
    mlflow: ServerProcess,
    seeded: dict[str, str],
    marker_dir: Path,
    tmp_path: Path,
    kind: str,
    described: str,
) -> None:
    marker = marker_dir / ("code.ran" if kind == "code" else f"{kind}.ran")
    version = register_malicious(mlflow.url, MODEL, kind, marker, tmp_path)
    assert not marker.exists()  # registering it ran nothing
    point_alias(mlflow.url, MODEL, "B", version)
    detail = assert_refused(app, seeded, f"version {version} is a {described}", OPT_IN)
    assert detail == (
        f"version {version} is a {described}, whose loading runs code: refused "
        f"(set {OPT_IN} to load such models)"
    )
    assert not marker.exists()


def test_the_opt_in_loads_a_model_that_runs_code(
    start_app: StartApp, mlflow: ServerProcess, seeded: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "pyfunc.ran"
    point_alias(mlflow.url, MODEL, "B", seeded["B"])
    with start_app(MODEL_NAME=MODEL, **SERVE_MODELS_FROM_CODE) as app:
        version = register_malicious(mlflow.url, MODEL, "pyfunc", marker, tmp_path)
        point_alias(mlflow.url, MODEL, "B", version)
        response = reload(app, "B")
        assert response.status_code == 200, response.text
        assert marker.exists()  # the operator allowed it, and the model's code ran
        answer = predict(app, path="/variant/B/predict").json()
        assert (answer["version"], answer["prediction"]) == (version, [0])
    point_alias(mlflow.url, MODEL, "B", seeded["B"])


def test_a_version_in_a_foreign_object_store_is_refused(
    app: ServerProcess, mlflow: ServerProcess, seeded: dict[str, str]
) -> None:
    client = MlflowClient(tracking_uri=mlflow.url, registry_uri=mlflow.url)
    version = client.create_model_version(MODEL, "s3://elsewhere/model").version
    point_alias(mlflow.url, MODEL, "B", str(version))
    detail = assert_refused(app, seeded, f"version {version}'s files are at a s3: location")
    assert "elsewhere" not in detail


def experiment_kept_elsewhere(mlflow: MlflowServer, name: str, location: str) -> str:
    """An experiment whose artifacts live at ``location``, which the writer may log to. With workspaces on,
    MLflow refuses such an experiment through its API, but a store from before holds them: the row is written
    into the server's database as MLflow wrote it then, and the admin grants the writer EDIT on it."""
    store = SqlAlchemyStore(mlflow.backend_store_uri, default_artifact_root=location)
    try:
        experiment = str(store.create_experiment(name, artifact_location=location))
    finally:
        store.engine.dispose()
    writer = mlflow.users.writer.username
    grant = {"username": writer, "resource_type": "experiment", "resource_id": experiment}
    admin = (mlflow.users.admin.username, mlflow.users.admin.password)
    url = f"{mlflow.url}/api/3.0/mlflow/users/permissions/grant"
    httpx.post(url, json={**grant, "permission": "EDIT"}, auth=admin, timeout=10).raise_for_status()
    return experiment


def test_a_normal_looking_version_whose_files_are_outside_the_store_is_refused(
    app: ServerProcess, mlflow: MlflowServer, seeded: dict[str, str], tmp_path: Path
) -> None:
    """An experiment may keep its artifacts anywhere: a version logged there has an ordinary ``models:/m-…``
    source, yet the files are a path on whatever machine loads them. A valid skops model sits there: only the
    location refuses it."""
    client = MlflowClient(tracking_uri=mlflow.url, registry_uri=mlflow.url)
    elsewhere = tmp_path / "elsewhere"
    experiment = experiment_kept_elsewhere(mlflow, f"elsewhere-{tmp_path.name}", elsewhere.as_uri())
    good = DummyClassifier(strategy="constant", constant=2).fit(FEATURES, LABELS)
    version = register_sklearn(mlflow.url, MODEL, good, experiment_id=experiment)
    assert client.get_model_version(MODEL, version).source.startswith("models:/m-")
    point_alias(mlflow.url, MODEL, "B", version)
    detail = assert_refused(app, seeded, f"version {version}'s files are at a file: location", "refused")
    assert str(elsewhere) not in detail


def test_a_skops_model_holding_a_type_the_app_does_not_trust_is_refused(
    app: ServerProcess, mlflow: ServerProcess, seeded: dict[str, str]
) -> None:
    """The model's own MLmodel declares ``builtins.eval`` trusted; the app decides, and does not."""
    estimator = Pipeline([("prep", FunctionTransformer(eval)), ("model", DummyClassifier())])
    version = register_sklearn(mlflow.url, MODEL, estimator, skops_trusted_types=["builtins.eval"])
    point_alias(mlflow.url, MODEL, "B", version)
    assert_refused(app, seeded, f"version {version}'s {UNTRUSTED}: builtins.eval")


def test_a_skops_file_named_outside_the_models_own_files_is_refused(
    app: ServerProcess, mlflow: ServerProcess, seeded: dict[str, str], tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    save_sklearn(DummyClassifier().fit(FEATURES, LABELS), model_dir)
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"]["pickled_model"] = "../../../../../../../../etc/hostname"
    (model_dir / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    version = register_directory(mlflow.url, MODEL, model_dir)
    point_alias(mlflow.url, MODEL, "B", version)
    assert_refused(app, seeded, f"version {version}'s MLmodel names a skops file outside its own files")


def test_a_skops_model_fitted_on_named_columns_is_served_with_them(
    app: ServerProcess, mlflow: ServerProcess, seeded: dict[str, str]
) -> None:
    frame = load_iris(as_frame=True).frame.drop(columns="target")
    estimator = LogisticRegression(max_iter=200).fit(frame, LABELS)
    version = register_sklearn(mlflow.url, MODEL, estimator, signature=infer_signature(frame))
    point_alias(mlflow.url, MODEL, "B", version)
    try:
        assert reload(app, "B").status_code == 200
        answer = predict(app, path="/variant/B/predict").json()
        assert (answer["version"], answer["prediction"]) == (version, [0])  # a setosa row
        assert httpx.get(f"{app.url}/models", timeout=10).json()["variants"]["B"]["predictor"] == (
            "sklearn-named-columns"
        )
    finally:
        point_alias(mlflow.url, MODEL, "B", seeded["B"])
        assert reload(app, "B").status_code == 200


def nan_regressor() -> Any:
    model = LinearRegression().fit(FEATURES, LABELS)
    model.intercept_ = np.nan
    return model


def bytes_classifier() -> Any:
    names = np.array([b"setosa", b"versicolor", b"virginica"])
    return DummyClassifier(strategy="most_frequent").fit(FEATURES, names[LABELS])


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (nan_regressor, "smoke prediction holds null, NaN or infinity, which JSON cannot answer"),
        (
            bytes_classifier,
            "smoke prediction cannot be encoded as JSON (Type is not JSON serializable: bytes)",
        ),
    ],
)
def test_a_model_whose_answer_the_api_cannot_send_is_refused(
    app: ServerProcess, mlflow: ServerProcess, seeded: dict[str, str], build: Callable[[], Any], expected: str
) -> None:
    version = register_sklearn(mlflow.url, MODEL, build())
    point_alias(mlflow.url, MODEL, "B", version)
    assert_refused(app, seeded, f"version {version}'s {expected}")


def test_a_recreated_model_with_the_same_version_number_is_reloaded(
    start_app: StartApp, mlflow: ServerProcess, tmp_path: Path
) -> None:
    """v1 of a deleted and re-created registered model, from the same run and source as the old v1 but with
    the run's files logged anew, is another model: the reload loads it."""
    name = f"trust_recreated_{tmp_path.name}"
    client = MlflowClient(tracking_uri=mlflow.url, registry_uri=mlflow.url)
    run_id = empty_run(mlflow.url)

    def register_constant(answer: int) -> str:
        saved = tmp_path / f"constant-{answer}"
        save_sklearn(DummyClassifier(strategy="constant", constant=answer).fit(FEATURES, LABELS), saved)
        client.log_artifacts(run_id, str(saved), "model")  # the run's files replaced in place
        client.create_registered_model(name)
        version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
        for alias in ("A", "B"):
            client.set_registered_model_alias(name, alias, version.version)
        return str(version.version)

    first = register_constant(0)
    with start_app(MODEL_NAME=name) as app:
        assert predict(app, path="/variant/A/predict").json()["prediction"] == [0]
        client.delete_registered_model(name)
        assert register_constant(2) == first
        response = reload(app, "A")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "reloaded"
        assert predict(app, path="/variant/A/predict").json()["prediction"] == [2]
        assert reload(app, "A").json()["status"] == "unchanged"
