"""Run the platform's real servers on loopback: an MLflow server and serving-app processes.

Used by ``make demo``, the test suites and ``make bench``. Every process is started in its own session
and stopped (process group, TERM then KILL) when its context exits, including on errors and Ctrl-C.
"""

from __future__ import annotations

import configparser
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tooling.model import APP_DIR, REPO_ROOT

LOOPBACK = "127.0.0.1"

MLFLOW_CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
"""Where every MLflow client (the app, the pipeline, the release CLI, ``mlflow models serve``) reads its
user."""

ROUTING_MODES: dict[str, dict[str, str]] = {
    "blue_green": {"ALIAS_SELECTION_MODE": "blue_green", "DEFAULT_ALIAS": "B"},
    "ab_test": {"ALIAS_SELECTION_MODE": "ab_test", "AB_SPLIT_PERCENT": "90", "DEFAULT_ALIAS": "A"},
    "canary": {"ALIAS_SELECTION_MODE": "canary", "CANARY_PERCENT": "10", "DEFAULT_ALIAS": "A"},
}
"""The app's three routing modes with the seed's settings (blue-green serves DEFAULT_ALIAS=B to everyone)."""


@dataclass(frozen=True)
class Credentials:
    """One MLflow user; the password never appears in a repr, a log line or an error message."""

    username: str
    password: str = field(repr=False)

    def env(self) -> dict[str, str]:
        """The standard variables an MLflow client reads its credentials from."""
        return dict(zip(MLFLOW_CREDENTIAL_VARIABLES, (self.username, self.password), strict=True))

    @classmethod
    def generate(cls, username: str) -> Credentials:
        return cls(username, secrets.token_urlsafe(24))


@dataclass(frozen=True)
class MlflowUsers:
    """The platform's three MLflow users: the admin (users and permissions only), the serving app's reader and
    the writer of the pipeline and the release controller (registers versions, moves aliases)."""

    admin: Credentials
    reader: Credentials
    writer: Credentials


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
    *,
    writer: Credentials,
) -> dict[str, str]:
    """What the release controller reads, for replicas on loopback (the Airflow chart sets the same): it acts
    as the registry's ``writer`` (it moves aliases)."""
    return {
        "MLFLOW_TRACKING_URI": mlflow_url,
        **writer.env(),
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


def inherited_environment() -> dict[str, str]:
    """This process's environment minus MLflow credentials: a child acts as an MLflow user only when its
    caller says which (the test process may hold the writer's while it starts a reader app)."""
    return {name: value for name, value in os.environ.items() if name not in MLFLOW_CREDENTIAL_VARIABLES}


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
            env={**inherited_environment(), **(env or {})},
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


@dataclass
class MlflowServer(ServerProcess):
    users: MlflowUsers
    backend_store_uri: str
    """The server's own database: for a test that needs a row the API no longer writes (an experiment with
    an artifact location of its own, as stores from before workspaces hold)."""

    def serving_env(self) -> dict[str, str]:
        """What a serving app needs to read this registry: its URL and the read-only user."""
        return {"MLFLOW_TRACKING_URI": self.url, **self.users.reader.env()}


AUTH_DEFAULT_PERMISSION = "READ"
"""What a user holds on a resource nobody granted them: READ, so the reader can resolve and download every
model and change nothing; the writer owns (MANAGE) what it creates."""


CREATE_USERS_SCRIPT = REPO_ROOT / "charts" / "mlflow" / "files" / "create_users.py"
"""The mlflow chart's users Job script (standard library only), run here as the Job runs it in a cluster."""

AUTH_CACHE_TTL_SECONDS = 60
"""How long the auth app trusts a verified password without hashing it again (the charts use the same)."""


def _auth_config(workdir: Path, admin: Credentials) -> Path:
    """The basic-auth app's ini: the user store beside the backend store, the admin created on first start."""
    config = configparser.ConfigParser(interpolation=None)
    config["mlflow"] = {
        "default_permission": AUTH_DEFAULT_PERMISSION,
        "database_uri": f"sqlite:///{workdir / 'basic_auth.db'}",
        "admin_username": admin.username,
        "admin_password": admin.password,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        # With the server's --enable-workspaces: a user without a workspace grant holds default_permission
        # (READ) in the default workspace, which cannot create; the users script gives the writer the role
        # that can.
        "grant_default_workspace_access": "true",
        # Each check of a password hashes it (werkzeug's scrypt: about a second per request on a busy two-core
        # machine); a verified (user, password) is remembered this long instead. A password change through the
        # API takes effect at once on the worker that handles it (the local server has one).
        "auth_cache_ttl_seconds": str(AUTH_CACHE_TTL_SECONDS),
    }
    path = workdir / "basic_auth.ini"
    path.touch(mode=0o600)
    with path.open("w") as file:
        config.write(file)
    return path


def create_platform_users(url: str, users: MlflowUsers) -> None:
    """Create the reader and the writer as the admin with the mlflow chart's own users script (what its
    post-sync Job runs; idempotent): only the writer may create, the reader holds READ and nothing more. The
    writer also gets EDIT on the Default experiment (id 0, created by the server itself, so nobody owns it)
    where the tests' ad-hoc runs land."""
    platform_users = {"READER": users.reader, "WRITER": users.writer}
    env = {
        "MLFLOW_URL": url,
        "PLATFORM_USERS": " ".join(platform_users),
        "CREATOR_USERS": "WRITER",
        "MLFLOW_AUTH_ADMIN_USERNAME": users.admin.username,
        "MLFLOW_AUTH_ADMIN_PASSWORD": users.admin.password,
    }
    for prefix, user in platform_users.items():
        env |= {f"{prefix}_USERNAME": user.username, f"{prefix}_PASSWORD": user.password}
    created = subprocess.run(
        [sys.executable, str(CREATE_USERS_SCRIPT)], env={**inherited_environment(), **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if created.returncode != 0:
        raise RuntimeError(f"creating MLflow's users failed: {(created.stderr or created.stdout).strip()}")
    grant = {"username": users.writer.username, "resource_type": "experiment", "resource_id": "0"}
    with httpx.Client(base_url=url, auth=(users.admin.username, users.admin.password), timeout=30.0) as http:
        granted = http.post("/api/3.0/mlflow/users/permissions/grant", json={**grant, "permission": "EDIT"})
    # A grant an earlier start on the same workdir made is already in place; any other refusal is a failure.
    if not (granted.status_code == 400 and "RESOURCE_ALREADY_EXISTS" in granted.text):
        granted.raise_for_status()


@contextmanager
def mlflow_server(workdir: Path, port: int | None = None) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` with its basic-auth app: SQLite backend and user stores and local artifacts
    under ``workdir``, 1 worker, fresh credentials per run (``server.users``)."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    users = MlflowUsers(
        admin=Credentials.generate("admin"),
        reader=Credentials.generate("serving-reader"),
        writer=Credentials.generate("pipeline-writer"),
    )
    backend_store_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    command = [
        venv_bin("mlflow"), "server", "--app-name", "basic-auth", "--enable-workspaces",
        "--backend-store-uri", backend_store_uri,
        "--artifacts-destination", str(workdir / "artifacts"),
        "--host", LOOPBACK, "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_AUTH_CONFIG_PATH": str(_auth_config(workdir, users.admin)),
        # Signs the auth app's CSRF tokens; one server, one run: a fresh key each time.
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_urlsafe(32),
    }
    with running(
        "mlflow", command, port=port, ready_path="/health", log_path=workdir / "mlflow-server.log", env=env
    ) as process:
        create_platform_users(process.url, users)
        yield MlflowServer(
            process.name, process.url, process.process, process.log_path, users, backend_store_uri
        )


@contextmanager
def mlflow_client_credentials(credentials: Credentials) -> Iterator[None]:
    """This process's MLflow clients (registration, seeding, alias moves in-process) act as ``credentials``
    for the duration; the previous values come back afterwards."""
    previous = {name: os.environ.get(name) for name in MLFLOW_CREDENTIAL_VARIABLES}
    os.environ.update(credentials.env())
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
