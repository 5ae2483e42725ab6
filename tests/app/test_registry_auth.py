"""MLflow's own authentication, as the platform runs it (``mlflow server --app-name basic-auth``): nobody
without credentials reaches the registry, the serving app's user only reads, the writer registers and moves
aliases; the app reports refused credentials in one line that names no secret and keeps serving."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException

from tests.app.conftest import StartApp
from tests.app.support import TOKEN, models, predict, reload
from tooling.infra.localstack import (
    Credentials,
    MlflowServer,
    app_command,
    create_platform_users,
    free_port,
    inherited_environment,
    mlflow_client_credentials,
)
from tooling.infra.registry_seed import point_alias, register_version, seed_variants
from tooling.model import APP_DIR, REPO_ROOT

pytestmark = pytest.mark.slow

MODEL = "auth_model"


@pytest.fixture(scope="module")
def versions(mlflow: MlflowServer) -> dict[str, str]:
    """``auth_model`` @A and @B on two versions, registered by the writer."""
    return seed_variants(mlflow.url, MODEL)


def client(mlflow: MlflowServer) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow.url, registry_uri=mlflow.url)


def test_anonymous_requests_to_the_registry_and_artifact_apis_are_401(
    mlflow: MlflowServer, versions: dict[str, str]
) -> None:
    with httpx.Client(base_url=mlflow.url, timeout=10) as anonymous:
        alias = anonymous.get("/api/2.0/mlflow/registered-models/alias", params={"name": MODEL, "alias": "A"})
        moved = anonymous.post(
            "/api/2.0/mlflow/registered-models/alias", json={"name": MODEL, "alias": "A", "version": "2"}
        )
        created = anonymous.post("/api/2.0/mlflow/registered-models/create", json={"name": "anonymous_model"})
        uploaded = anonymous.put("/api/2.0/mlflow-artifacts/artifacts/0/planted/MLmodel", content=b"x")
        ajax = anonymous.post(
            "/ajax-api/2.0/mlflow/registered-models/alias", json={"name": MODEL, "alias": "A", "version": "2"}
        )
    assert [r.status_code for r in (alias, moved, created, uploaded, ajax)] == [401] * 5
    assert client(mlflow).get_model_version_by_alias(MODEL, "A").version == versions["A"]


def test_the_reader_resolves_and_downloads_but_cannot_register_or_move_an_alias(
    mlflow: MlflowServer, versions: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    registry = client(mlflow)
    with mlflow_client_credentials(mlflow.users.reader):
        assert registry.get_model_version_by_alias(MODEL, "B").version == versions["B"]
        downloaded = download_artifacts(
            artifact_uri=f"models:/{MODEL}/{versions['A']}",
            dst_path=str(tmp_path_factory.mktemp("reader")),
            tracking_uri=mlflow.url,
        )
        assert (Path(downloaded) / "MLmodel").exists()
        with pytest.raises(MlflowException) as created:
            registry.create_model_version(MODEL, f"models:/{MODEL}/{versions['A']}")
        with pytest.raises(MlflowException) as moved:
            registry.set_registered_model_alias(MODEL, "A", versions["B"])
    uploaded = httpx.put(
        f"{mlflow.url}/api/2.0/mlflow-artifacts/artifacts/0/planted/MLmodel",
        content=b"x",
        auth=(mlflow.users.reader.username, mlflow.users.reader.password),
        timeout=10,
    )
    assert created.value.error_code == moved.value.error_code == "PERMISSION_DENIED"
    assert uploaded.status_code == 403
    assert registry.get_model_version_by_alias(MODEL, "A").version == versions["A"]


def _permission(mlflow: MlflowServer, user: Credentials, name: str) -> str:
    """What ``user`` holds on registered model ``name``, as the auth app resolves it for a request."""
    query = {"username": user.username, "resource_type": "registered_model", "resource_id": name}
    admin = (mlflow.users.admin.username, mlflow.users.admin.password)
    url = f"{mlflow.url}/api/3.0/mlflow/users/permissions/get"
    answer = httpx.get(url, params=query, auth=admin, timeout=10)
    answer.raise_for_status()
    permission: str = answer.json()["permission"]
    return permission


def test_the_reader_creates_no_registered_model_and_no_experiment(mlflow: MlflowServer) -> None:
    name = f"reader_planted_{secrets.token_hex(4)}"
    registry = client(mlflow)
    with mlflow_client_credentials(mlflow.users.reader):
        with pytest.raises(MlflowException) as model:
            registry.create_registered_model(name)
        with pytest.raises(MlflowException) as experiment:
            registry.create_experiment(name)
    assert model.value.error_code == experiment.value.error_code == "PERMISSION_DENIED"
    assert registry.search_registered_models(f"name = '{name}'") == []
    assert registry.get_experiment_by_name(name) is None


def test_the_reader_cannot_take_a_served_name_before_the_writer_registers_it(mlflow: MlflowServer) -> None:
    # The name an app serves, not registered yet (a new environment, a renamed model): whoever creates a
    # registered model owns it (MANAGE), so a reader that could create it would choose what the app loads.
    name = f"unclaimed_{secrets.token_hex(4)}"
    registry = client(mlflow)
    with mlflow_client_credentials(mlflow.users.reader), pytest.raises(MlflowException) as squatted:
        registry.create_registered_model(name)
    assert squatted.value.error_code == "PERMISSION_DENIED"

    first = register_version(mlflow.url, name).version  # the writer, as the pipeline registers
    point_alias(mlflow.url, name, "A", first)
    assert _permission(mlflow, mlflow.users.writer, name) == "MANAGE"
    assert _permission(mlflow, mlflow.users.reader, name) == "READ"
    with mlflow_client_credentials(mlflow.users.reader):
        assert registry.get_model_version_by_alias(name, "A").version == first
        with pytest.raises(MlflowException) as moved:
            registry.set_registered_model_alias(name, "A", first)
    assert moved.value.error_code == "PERMISSION_DENIED"

    second = register_version(mlflow.url, name, c=0.5).version
    point_alias(mlflow.url, name, "A", second)
    assert registry.get_model_version_by_alias(name, "A").version == second


def test_the_users_script_brings_a_reader_back_to_read_and_hands_its_model_to_the_writer(
    mlflow: MlflowServer,
) -> None:
    # A registry from before creation was gated: the reader created (so owns) a name the pipeline serves, and
    # it was put in the role that may create. The users script (every sync) leaves it READ and nothing more.
    name = f"squatted_{secrets.token_hex(4)}"
    reader = mlflow.users.reader
    admin = httpx.BasicAuth(mlflow.users.admin.username, mlflow.users.admin.password)
    with httpx.Client(base_url=mlflow.url, auth=admin, timeout=10) as http:
        http.post("/api/2.0/mlflow/registered-models/create", json={"name": name}).raise_for_status()
        grant = {"username": reader.username, "resource_type": "registered_model", "resource_id": name}
        granted = http.post("/api/3.0/mlflow/users/permissions/grant", json={**grant, "permission": "MANAGE"})
        granted.raise_for_status()
        roles = http.get("/api/3.0/mlflow/roles/list", params={"workspace": "default"}).json()["roles"]
        [creators] = [role["id"] for role in roles if role["name"] == "platform-creators"]
        assignment = {"username": reader.username, "role_id": creators}
        assigned = http.post("/api/3.0/mlflow/roles/assign", json=assignment)
        assigned.raise_for_status()
    assert _permission(mlflow, reader, name) == "MANAGE"

    create_platform_users(mlflow.url, mlflow.users)

    assert _permission(mlflow, reader, name) == "READ"
    assert _permission(mlflow, mlflow.users.writer, name) == "MANAGE"
    with httpx.Client(base_url=mlflow.url, auth=admin, timeout=10) as http:
        held = http.get("/api/3.0/mlflow/users/permissions/list", params={"username": reader.username}).json()
    assert {grant["permission"] for grant in held["permissions"]} <= {"READ"}
    registry = client(mlflow)
    with mlflow_client_credentials(reader):
        with pytest.raises(MlflowException) as tagged:
            registry.set_registered_model_tag(name, "planted", "1")
        with pytest.raises(MlflowException) as created:
            registry.create_registered_model(f"{name}_again")
    assert tagged.value.error_code == created.value.error_code == "PERMISSION_DENIED"
    version = register_version(mlflow.url, name).version
    point_alias(mlflow.url, name, "A", version)
    assert registry.get_model_version_by_alias(name, "A").version == version


def test_the_writer_registers_a_version_and_moves_an_alias(
    mlflow: MlflowServer, versions: dict[str, str]
) -> None:
    registry = client(mlflow)
    with mlflow_client_credentials(mlflow.users.writer):
        created = registry.create_model_version(MODEL, f"models:/{MODEL}/{versions['A']}")
        registry.set_registered_model_alias(MODEL, "A", created.version)
        assert registry.get_model_version_by_alias(MODEL, "A").version == created.version
        registry.set_registered_model_alias(MODEL, "A", versions["A"])


def _user_with_a_rotated_password(mlflow: MlflowServer) -> tuple[Credentials, Credentials]:
    """A reader of its own, the session's stays untouched: (its credentials, the ones after a rotation)."""
    admin = httpx.BasicAuth(mlflow.users.admin.username, mlflow.users.admin.password)
    user = Credentials.generate(f"rotated-{secrets.token_hex(4)}")
    rotated = Credentials(user.username, secrets.token_urlsafe(24))
    with httpx.Client(base_url=mlflow.url, auth=admin, timeout=10) as http:
        body = {"username": user.username, "password": user.password}
        http.post("/api/2.0/mlflow/users/create", json=body).raise_for_status()
    return user, rotated


def _rotate(mlflow: MlflowServer, user: Credentials) -> None:
    admin = httpx.BasicAuth(mlflow.users.admin.username, mlflow.users.admin.password)
    body = {"username": user.username, "password": user.password}
    httpx.patch(
        f"{mlflow.url}/api/2.0/mlflow/users/update-password", json=body, auth=admin, timeout=10
    ).raise_for_status()


def test_refused_credentials_fail_the_reload_in_one_line_and_the_old_model_keeps_serving(
    mlflow: MlflowServer, versions: dict[str, str], start_app: StartApp
) -> None:
    user, rotated = _user_with_a_rotated_password(mlflow)
    with start_app(MODEL_NAME=MODEL, DEFAULT_ALIAS="B", **user.env()) as app:
        assert models(app)["B"] == versions["B"]
        # The operator rotates the password in MLflow but the pod still holds the old one.
        _rotate(mlflow, rotated)
        point_alias(mlflow.url, MODEL, "B", register_version(mlflow.url, MODEL, c=0.4).version)
        reply = reload(app, "B")
        served = predict(app)
        log = app.log_path.read_text() + (app.log_path.parent / "logs" / "fastapi.log").read_text()
    detail = reply.json()["detail"]
    assert reply.status_code == 503, reply.text
    assert "refused this app's credentials (not authorised" in detail
    assert "\n" not in detail
    assert user.password not in detail
    assert rotated.password not in detail
    assert user.password not in log
    assert rotated.password not in log
    assert served.status_code == 200
    assert served.headers["x-model-version"] == versions["B"]


def test_the_app_without_credentials_exits_with_a_not_authorised_line_not_a_traceback(
    mlflow: MlflowServer, versions: dict[str, str]
) -> None:
    settings = {
        "MLFLOW_TRACKING_URI": mlflow.url, "MODEL_NAME": MODEL, "RELOAD_SECRET_TOKEN": TOKEN,
        "LOG_FILE": "", "PREDICTION_LOG_ENABLED": "false", "STARTUP_LOAD_ATTEMPTS": "1",
        "REGISTRY_POLL_SECONDS": "0",
    }  # fmt: skip
    finished = subprocess.run(
        app_command(free_port()), cwd=APP_DIR, env={**inherited_environment(), **settings},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    output = finished.stdout + finished.stderr
    assert finished.returncode != 0
    assert (
        "no variant could be loaded, exiting: @A: resolving @A: the registry refused this app's credentials"
        in output
    )
    assert "Traceback" not in finished.stdout
    assert mlflow.users.reader.password not in output


def test_the_release_command_without_credentials_moves_nothing_and_says_so_in_one_line(
    mlflow: MlflowServer, versions: dict[str, str]
) -> None:
    settings = {
        "MLFLOW_TRACKING_URI": mlflow.url, "MODEL_NAME": MODEL, "SERVING_REPLICAS": f"http://127.0.0.1:{free_port()}",
        "RELOAD_SECRET_TOKEN": TOKEN, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }  # fmt: skip
    finished = subprocess.run(
        [sys.executable, "-m", "tooling.release", "release", "--version", versions["A"]], cwd=REPO_ROOT,
        env={**inherited_environment(), **settings}, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert finished.returncode == 1
    assert f"nothing moved: cannot read registered model {MODEL}: UNAUTHENTICATED" in finished.stdout
    assert "Traceback" not in finished.stdout + finished.stderr
    assert client(mlflow).get_model_version_by_alias(MODEL, "A").version == versions["A"]


def test_a_model_that_does_not_exist_is_named_as_absent_not_as_forbidden(mlflow: MlflowServer) -> None:
    # MLflow's auth app answers an alias lookup on an absent model with 403; the app must not blame the user.
    settings = {
        **mlflow.serving_env(), "MODEL_NAME": "no_such_model", "RELOAD_SECRET_TOKEN": TOKEN, "LOG_FILE": "",
        "PREDICTION_LOG_ENABLED": "false", "STARTUP_LOAD_ATTEMPTS": "1", "REGISTRY_POLL_SECONDS": "0",
    }  # fmt: skip
    finished = subprocess.run(
        app_command(free_port()), cwd=APP_DIR, env={**inherited_environment(), **settings},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert finished.returncode != 0
    assert (
        "no variant could be loaded, exiting: @A: model no_such_model is not in the registry"
        in finished.stdout
    )
    assert "permission denied" not in finished.stdout
