"""The servers the bench compares ours with, started like the local stack starts ours."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tooling.infra.localstack import LOOPBACK, MlflowServer, ServerProcess, free_port, running, venv_bin
from tooling.model import DEFAULT_MODEL_NAME

FLOOR_DIR = Path(__file__).resolve().parent
"""Where ``floor_app.py`` is (uvicorn imports it by module name from here)."""


@contextmanager
def mlflow_models_serve(mlflow: MlflowServer, version: str, log_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    command = [
        venv_bin("mlflow"), "models", "serve", "-m", f"models:/{DEFAULT_MODEL_NAME}/{version}",
        "--env-manager", "local", "--workers", "1", "--host", LOOPBACK, "--port", str(port),
    ]  # fmt: skip
    # It starts ``uvicorn`` by name: the project's venv must come first on PATH.
    path = f"{Path(venv_bin('uvicorn')).parent}{os.pathsep}{os.environ['PATH']}"
    # It downloads the version as the read-only user, as our app does.
    env = {**mlflow.serving_env(), "PATH": path}
    with running(
        "mlflow models serve", command, port=port, ready_path="/ping", log_path=log_path, env=env
    ) as server:
        yield server


@contextmanager
def floor_server(log_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    command = [
        venv_bin("uvicorn"), "floor_app:app", "--host", LOOPBACK, "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    with running(
        "bare FastAPI", command, port=port, ready_path="/livez", log_path=log_path, cwd=FLOOR_DIR
    ) as floor:
        yield floor
