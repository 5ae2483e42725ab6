"""Helpers for the serving app's suites: HTTP calls against the app, registry fixtures, a TCP relay."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from prometheus_client.parser import text_string_to_metric_families

from tooling.infra.localstack import LOOPBACK, ServerProcess

TOKEN = "test-token-" + secrets.token_hex(8)
IRIS_ROW = [5.1, 3.5, 1.4, 0.2]


def models(app: ServerProcess) -> dict[str, str]:
    """alias -> version the app serves, from ``GET /models``."""
    variants = httpx.get(f"{app.url}/models", timeout=10).json()["variants"]
    return {alias: info["version"] for alias, info in variants.items()}


def metric(app: ServerProcess, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels`` (0 when it has none yet)."""
    text = httpx.get(f"{app.url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def reload(
    app: ServerProcess, alias: str, token: str | None = TOKEN, action: str = "reload"
) -> httpx.Response:
    headers = {"x-token": token} if token is not None else {}
    return httpx.post(f"{app.url}/variant/{alias}/{action}", headers=headers, timeout=60)


def predict(app: ServerProcess, client_id: str | None = None, path: str = "/predict") -> httpx.Response:
    headers = {"x-client-id": client_id} if client_id else {}
    return httpx.post(f"{app.url}{path}", json={"data": [IRIS_ROW]}, headers=headers, timeout=30)


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns its last value (correctness, not speed)."""
    event = threading.Event()
    deadline = timeout
    while deadline > 0:
        if predicate():
            return True
        event.wait(0.2)
        deadline -= 0.2
    return predicate()


class TcpRelay:
    """A loopback TCP relay in front of a real server; ``cut()`` stands for the network path going down."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = (LOOPBACK, upstream_port)
        self._listener = socket.create_server((LOOPBACK, 0))
        self.url = f"http://{LOOPBACK}:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def register_broken_version(tracking_uri: str, model_name: str) -> str:
    """A version whose artifact is not a loadable model (a corrupt MLmodel file)."""
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run() as run:
        mlflow.log_text("flavors: [not, a, model", "model/MLmodel")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = client.create_model_version(
        model_name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    return str(version.version)


EXPLODING_MODEL = """
import mlflow
from mlflow.pyfunc import PythonModel


class Exploding(PythonModel):
    def predict(self, context, model_input, params=None):
        raise RuntimeError("this model cannot predict")


mlflow.models.set_model(Exploding())
"""


SLOW_MODEL = """
import time

import numpy as np
import mlflow
from mlflow.pyfunc import PythonModel


class Slow(PythonModel):
    def predict(self, context, model_input, params=None):
        time.sleep(0.1)
        return np.zeros(len(model_input), dtype=np.int64)


mlflow.models.set_model(Slow())
"""


def register_exploding_version(tracking_uri: str, model_name: str, workdir: Path) -> str:
    """A version that loads fine (with ``SERVE_MODELS_FROM_CODE``) but fails its smoke prediction."""
    return register_code_version(tracking_uri, model_name, workdir / "exploding_model.py", EXPLODING_MODEL)


def register_slow_version(tracking_uri: str, model_name: str, workdir: Path) -> str:
    """A version that answers class 0 for every row, 100 ms per call (a shadow that cannot keep up); served
    only with ``SERVE_MODELS_FROM_CODE``."""
    return register_code_version(tracking_uri, model_name, workdir / "slow_model.py", SLOW_MODEL)


def register_code_version(tracking_uri: str, model_name: str, code: Path, source: str) -> str:
    """Register ``source`` as an MLflow model from code with a four-column iris signature (loading it runs it:
    an app loads it only with ``SERVE_MODELS_FROM_CODE``)."""
    code.write_text(source)
    signature = ModelSignature(inputs=Schema([ColSpec("double", f"f{i}") for i in range(4)]))
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run() as run:
        logged = mlflow.pyfunc.log_model(
            name="model", python_model=str(code), signature=signature, pip_requirements=[]
        )
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = client.create_model_version(
        model_name, logged.model_uri, run_id=run.info.run_id, model_id=logged.model_id
    )
    return str(version.version)
