"""The servers the bench compares ours with, started like the local stack starts ours."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tooling.infra.localstack import LOOPBACK, MlflowServer, ServerProcess, free_port, running, venv_bin
from tooling.model import DEFAULT_MODEL_NAME, REPO_ROOT

FLOOR_DIR = Path(__file__).resolve().parent
"""Where ``floor_app.py`` is (uvicorn imports it by module name from here)."""

MLSERVER = REPO_ROOT / ".venv-mlserver" / "bin" / "mlserver"
"""MLServer's own venv (``bin/bootstrap mlserver``): it pins a FastAPI far older than the app's."""

BATCHED_MODEL_NAME = f"{DEFAULT_MODEL_NAME}-batched"
"""The same registered version a second time in the same MLServer, with adaptive batching on."""

ADAPTIVE_BATCHING = {"max_batch_size": 32, "max_batch_time": 0.005}
"""Up to 32 requests per predict, waiting at most 5 ms for them: 32 is twice the bench's 16 connections, so
a batch closes on time rather than on size under that load, and 5 ms is small against a one-row request's
latency there (10-30 ms) yet long enough for several requests to arrive at a few hundred req/s."""

MODEL_READY_TIMEOUT = 120.0


@dataclass(frozen=True)
class MlserverModels:
    """One MLServer process serving the same registered version twice: without and with adaptive batching."""

    server: ServerProcess
    unbatched: str
    batched: str


def mlserver_settings(http_port: int, grpc_port: int, metrics_port: int) -> dict[str, Any]:
    """MLServer's ``settings.json``: one process on loopback, comparable to one uvicorn worker of ours.

    ``parallel_workers: 0`` runs inference in the server process itself (1.7.1's default, 1, starts a
    separate inference worker process: two processes). No access log (``debug: false``), as ours runs with
    ``--no-access-log``. gRPC cannot be switched off, so it gets a free port; metrics stay on (ours records
    Prometheus metrics per request too), on their own free port.
    """
    return {
        "debug": False,
        "parallel_workers": 0,
        "host": LOOPBACK,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "load_models_at_startup": True,
    }


def mlserver_model_settings(name: str, model_uri: str, *, batching: bool) -> dict[str, Any]:
    """One ``model-settings.json``: MLServer's MLflow runtime loading ``model_uri`` from the registry."""
    return {
        "name": name,
        "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": model_uri},
        **(ADAPTIVE_BATCHING if batching else {}),
    }


def _write_json(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n")


def wait_for_model(server: ServerProcess, name: str, timeout: float = MODEL_READY_TIMEOUT) -> None:
    """MLServer answers HTTP before its models are loaded (its ready endpoints say 400 until then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited while loading {name}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/v2/models/{name}/ready", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{server.name} did not load {name} within {timeout:.0f}s:\n{server.log_tail()}")


@contextmanager
def mlserver(mlflow: MlflowServer, version: str, workdir: Path) -> Iterator[MlserverModels]:
    """MLServer with ``mlserver-mlflow``, serving ``models:/<name>/<version>`` from the bench's registry as
    the read-only user (the credentials our app gets), with adaptive batching off and on."""
    if not MLSERVER.exists():
        raise RuntimeError(f"{MLSERVER} is missing: run bin/bootstrap mlserver")
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    repository = workdir / "mlserver"
    _write_json(repository / "settings.json", mlserver_settings(http_port, grpc_port, metrics_port))
    model_uri = f"models:/{DEFAULT_MODEL_NAME}/{version}"
    for name, batching in ((DEFAULT_MODEL_NAME, False), (BATCHED_MODEL_NAME, True)):
        _write_json(
            repository / name / "model-settings.json",
            mlserver_model_settings(name, model_uri, batching=batching),
        )
    command = [str(MLSERVER), "start", str(repository)]
    with running(
        "MLServer", command, port=http_port, ready_path="/v2/health/live",
        log_path=workdir / "mlserver.log", env=mlflow.serving_env(), cwd=repository,
    ) as server:  # fmt: skip
        for name in (DEFAULT_MODEL_NAME, BATCHED_MODEL_NAME):
            wait_for_model(server, name)
        yield MlserverModels(server, DEFAULT_MODEL_NAME, BATCHED_MODEL_NAME)


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
