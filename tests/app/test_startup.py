"""Start-up as the image runs it: invalid configuration, MLflow unreachable, and a degraded start."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from serving.config import load_settings
from serving.inference.routing import bucket
from tests.app.conftest import StartApp
from tests.app.support import predict, reload
from tooling.infra.localstack import ServerProcess, app_command, free_port
from tooling.infra.registry_seed import point_alias, register_version
from tooling.model import APP_DIR

pytestmark = pytest.mark.slow


def run_app_until_exit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``uvicorn main:app`` exactly as the image starts it, expected to exit on its own."""
    quiet = {"LOG_FILE": "", "PREDICTION_LOG_ENABLED": "false"}  # nothing written into the app folder
    return subprocess.run(
        app_command(free_port()), cwd=APP_DIR, env={**os.environ, **quiet, **env},
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


LIMIT = "Input should be less than or equal to 100"


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"MLFLOW_TRACKING_URI": "http://x", "CANARY_PERCENT": "150"}, f"CANARY_PERCENT: {LIMIT}"),
        ({}, "MLFLOW_TRACKING_URI: Field required"),
    ],
)
def test_invalid_configuration_exits_with_one_line(env: dict[str, str], line: str) -> None:
    inherited = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        app_command(free_port()), cwd=APP_DIR, env={**inherited, **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == f"invalid configuration: {line}"


INVALID = {
    "ALIAS_SELECTION_MODE": ("mirror", "Input should be 'ab_test', 'canary', 'blue_green' or 'shadow'"),
    "DEFAULT_ALIAS": ("C", "Input should be 'A' or 'B'"),
    "AB_SPLIT_PERCENT": ("-1", "Input should be greater than or equal to 0"),
    "CANARY_PERCENT": ("ten", "Input should be a valid integer, unable to parse string as an integer"),
    "MAX_BATCH_ROWS": ("0", "Input should be greater than or equal to 1"),
    "REGISTRY_POLL_SECONDS": ("-5", "Input should be greater than or equal to 0"),
}


@pytest.mark.parametrize(("variable", "value", "problem"), [(k, *v) for k, v in INVALID.items()])
def test_each_invalid_setting_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    problem: str,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exit_info:
        load_settings()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"invalid configuration: {variable}: {problem}\n"


def test_empty_secrets_mean_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("RELOAD_SECRET_TOKEN", "  ")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "")
    settings = load_settings()
    assert settings.reload_secret_token is None
    assert settings.slack_webhook_url is None


def test_mlflow_unreachable_at_start_up_exits_non_zero() -> None:
    result = run_app_until_exit(
        {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}", "STARTUP_LOAD_ATTEMPTS": "2",
         "STARTUP_RETRY_SECONDS": "0.1", "REGISTRY_POLL_SECONDS": "0"}
    )  # fmt: skip
    assert result.returncode != 0
    assert "no variant could be loaded, exiting: @A: model registry unreachable" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr.split("Traceback")[0]


DEGRADED_MODEL = "degraded_model"


@pytest.fixture
def degraded_app(start_app: StartApp, mlflow: ServerProcess) -> Iterator[ServerProcess]:
    """Only @A exists in the registry; B is the default, no reload token is configured."""
    version = register_version(mlflow.url, DEGRADED_MODEL).version
    point_alias(mlflow.url, DEGRADED_MODEL, "A", version)
    settings = {"MODEL_NAME": DEGRADED_MODEL, "ALIAS_SELECTION_MODE": "canary", "CANARY_PERCENT": "50",
                "DEFAULT_ALIAS": "B", "RELOAD_SECRET_TOKEN": "", "STARTUP_LOAD_ATTEMPTS": "2",
                "STARTUP_RETRY_SECONDS": "0.1"}  # fmt: skip
    with start_app(**settings) as app:
        yield app


def test_a_degraded_start_serves_from_the_loaded_variant_and_says_so(degraded_app: ServerProcess) -> None:
    health = httpx.get(f"{degraded_app.url}/health")
    assert (health.status_code, health.json()["status"], health.json()["missing"]) == (200, "degraded", ["B"])
    assert httpx.get(f"{degraded_app.url}/readyz").status_code == 503  # the default (B) cannot serve

    routed_to_b = next(f"c{i}" for i in range(100) if bucket(f"c{i}") < 50)
    response = predict(degraded_app, routed_to_b)
    assert response.status_code == 200
    assert (response.headers["x-variant"], response.headers["x-variant-fallback"]) == ("A", "B->A")

    explicit = predict(degraded_app, path="/variant/B/predict")
    assert (explicit.status_code, explicit.json()) == (503, {"detail": "variant B is not loaded"})


def test_reload_without_a_configured_token_is_disabled(degraded_app: ServerProcess) -> None:
    response = reload(degraded_app, "B", token="anything")
    assert response.status_code == 503
    assert response.json() == {"detail": "reload is disabled: RELOAD_SECRET_TOKEN is not configured"}
