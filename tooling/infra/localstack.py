"""Run the platform's real servers on loopback: an MLflow server and serving-app processes.

Used by ``make demo``, the test suites and ``make bench``. Every process is started in its own session
and stopped (process group, TERM then KILL) when its context exits, including on errors and Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tooling.model import APP_DIR

LOOPBACK = "127.0.0.1"

ROUTING_MODES: dict[str, dict[str, str]] = {
    "blue_green": {"ALIAS_SELECTION_MODE": "blue_green", "DEFAULT_ALIAS": "B"},
    "ab_test": {"ALIAS_SELECTION_MODE": "ab_test", "AB_SPLIT_PERCENT": "90", "DEFAULT_ALIAS": "A"},
    "canary": {"ALIAS_SELECTION_MODE": "canary", "CANARY_PERCENT": "10", "DEFAULT_ALIAS": "A"},
}
"""The app's three routing modes with the seed's settings (blue-green serves DEFAULT_ALIAS=B to everyone)."""


LOCAL_RELEASE_POLICY: dict[str, str] = {
    "RELEASE_STEPS": "10,50,100",
    "RELEASE_STEP_SECONDS": "20",
    "RELEASE_MIN_REQUESTS": "30",
    "RELEASE_MAX_ERROR_RATE": "0.02",
    "RELEASE_MAX_P99_RATIO": "5",
    "RELEASE_QUALITY_MARGIN": "0.05",
    "RELEASE_CONVERGE_SECONDS": "30",
    "RELEASE_POLL_SECONDS": "1",
}
"""The release policy of local runs (demo, tests): the environments' gates with windows of seconds, so a
canary step closes after a few dozen requests to B; every step still needs real routed traffic to pass."""


def release_environment(
    mlflow_url: str,
    model_name: str,
    replica_urls: Sequence[str],
    token: str,
    policy: Mapping[str, str] = LOCAL_RELEASE_POLICY,
) -> dict[str, str]:
    """What the release controller reads, for replicas on loopback (the Airflow chart sets the same)."""
    return {
        "MLFLOW_TRACKING_URI": mlflow_url,
        "MODEL_NAME": model_name,
        "SERVING_REPLICAS": ",".join(replica_urls),
        "RELOAD_SECRET_TOKEN": token,
        **policy,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def venv_bin(name: str) -> str:
    """A console script installed beside the running interpreter (the project's venv)."""
    return str(Path(sys.executable).parent / name)


@dataclass
class ServerProcess:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stop_process(
    process: subprocess.Popen[bytes], grace: float = 10.0, signum: signal.Signals = signal.SIGTERM
) -> None:
    """Stop a process started in its own session: ``signum`` to its group, SIGKILL after ``grace``."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signum)
        process.wait(timeout=grace)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


def _wait_until_up(server: ServerProcess, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with code {server.process.returncode} during start-up:\n"
                + server.log_tail()
            )
        try:
            if httpx.get(server.url + path, timeout=2.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{server.name} did not answer {path} within {timeout:.0f}s:\n{server.log_tail()}")


@contextmanager
def running(
    name: str,
    command: list[str],
    *,
    port: int,
    ready_path: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 90.0,
) -> Iterator[ServerProcess]:
    """Start ``command`` (which must listen on ``port``), wait for ``ready_path``, stop it on exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = ServerProcess(name, f"http://{LOOPBACK}:{port}", process, log_path)
    try:
        _wait_until_up(server, ready_path, timeout)
        yield server
    finally:
        stop_process(process)


@contextmanager
def mlflow_server(workdir: Path, port: int | None = None) -> Iterator[ServerProcess]:
    """A real ``mlflow server``: SQLite backend store and local artifacts under ``workdir``, 1 worker."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        venv_bin("mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination", str(workdir / "artifacts"),
        "--host", LOOPBACK, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with running(
        "mlflow", command, port=port, ready_path="/health", log_path=workdir / "mlflow-server.log", env=env
    ) as server:
        yield server


def server_limits() -> list[str]:
    """The uvicorn limits the chart starts the app with (its values.yaml ``server``), as arguments."""
    server = yaml.safe_load((APP_DIR.parent / "values.yaml").read_text())["server"]
    return [
        "--timeout-keep-alive", str(server["timeoutKeepAliveSeconds"]),
        "--limit-concurrency", str(server["limitConcurrency"]),
        "--timeout-graceful-shutdown", str(server["gracefulShutdownSeconds"]),
    ]  # fmt: skip


def app_command(port: int) -> list[str]:
    """The chart's and the image's start command (``uvicorn main:app`` from the app folder, the chart's server
    limits), bound to loopback."""
    return [
        venv_bin("uvicorn"), "main:app", "--host", LOOPBACK, "--port", str(port), "--no-access-log",
        *server_limits(),
    ]  # fmt: skip


@contextmanager
def app_server(
    env: Mapping[str, str], log_path: Path, port: int | None = None, timeout: float = 90.0
) -> Iterator[ServerProcess]:
    """The serving app as a real process, started exactly as its image starts it."""
    port = port or free_port()
    # Each process its own prediction log beside its output, unless the caller shares one.
    predictions = f"sqlite:///{log_path.with_suffix('.predictions.db')}"
    app_env = {"LOG_FILE": "", "REGISTRY_POLL_SECONDS": "0", "PREDICTION_LOG_URL": predictions, **env}
    with running(
        "serving app",
        app_command(port),
        port=port,
        ready_path="/livez",
        log_path=log_path,
        env=app_env,
        cwd=APP_DIR,
        timeout=timeout,
    ) as server:
        yield server
