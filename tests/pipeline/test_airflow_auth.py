"""The chart's auth manager on a real Airflow: FAB, with its admin made from the Secret's password.

What runs is what the chart renders (real Helm, prod's layers): the auth manager the api-server is given, and
the db-migrate Job's admin-user command, started with the Airflow image's environment (.venv-airflow) on an
embedded SQLite home; the api-server listens on loopback. Only the Secret is stood in for, by an environment
variable, as the kubelet would set it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tooling.infra.airflow import AIRFLOW_BIN
from tooling.infra.helm import render_manifests
from tooling.infra.k8s import containers, pod_spec
from tooling.infra.localstack import LOOPBACK, ServerProcess, free_port, running
from tooling.model import AIRFLOW_VENV, Deployment

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class RenderedAuth:
    auth_manager: str
    admin_command: list[str]  # the Job's admin-user container args: python -c <script>
    admin_env: dict[str, str]  # its plain values (the Secret's key is set by the test, as the kubelet would)


def rendered_auth() -> RenderedAuth:
    manifests = render_manifests(Deployment("airflow", "prod"))
    by_name = {
        str(container.get("name")): container
        for manifest in manifests
        if (spec := pod_spec(manifest)) is not None
        for container in containers(spec)
    }
    api_env = {e["name"]: e.get("value") for e in by_name["api-server"]["env"]}
    admin = by_name["admin-user"]
    return RenderedAuth(
        str(api_env["AIRFLOW__CORE__AUTH_MANAGER"]),
        [str(arg) for arg in admin["args"]],
        {
            e["name"]: str(e["value"])
            for e in admin["env"]
            if "value" in e and e["name"].startswith("AIRFLOW_ADMIN_")
        },
    )


def run(command: list[str], env: Mapping[str, str], log: Path) -> subprocess.CompletedProcess[str]:
    finished = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False
    )
    with log.open("a") as out:
        out.write(finished.stdout + finished.stderr)
    return finished


@dataclass
class FabAirflow:
    rendered: RenderedAuth
    env: dict[str, str]
    logs: Path
    server: ServerProcess | None = None

    def ensure_admin(self, password: str) -> subprocess.CompletedProcess[str]:
        # The image runs `python` from its Airflow environment; here that is .venv-airflow's interpreter.
        python, flag, script = self.rendered.admin_command
        assert (python, flag) == ("python", "-c")
        env = {**self.env, **self.rendered.admin_env, "AIRFLOW_ADMIN_PASSWORD": password}
        return run([str(AIRFLOW_VENV / "bin" / "python"), flag, script], env, self.logs / "admin-user.log")

    @property
    def admin(self) -> str:
        return self.rendered.admin_env["AIRFLOW_ADMIN_USERNAME"]

    def token(self, password: str) -> httpx.Response:
        assert self.server is not None
        credentials = {"username": self.admin, "password": password}
        return httpx.post(f"{self.server.url}/auth/token", json=credentials, timeout=30)

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs.glob("*.log"))


@pytest.fixture(scope="module")
def fab_airflow(tmp_path_factory: pytest.TempPathFactory) -> FabAirflow:
    if not AIRFLOW_BIN.exists():
        pytest.fail(f"{AIRFLOW_BIN} is missing: run `bin/bootstrap airflow`")
    home = tmp_path_factory.mktemp("airflow-fab")
    rendered = rendered_auth()
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": rendered.auth_manager,
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
    }
    airflow = FabAirflow(rendered, env, home)
    migrated = run([str(AIRFLOW_BIN), "db", "migrate"], env, home / "db-migrate.log")
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    return airflow


@pytest.fixture(scope="module")
def first_password(fab_airflow: FabAirflow) -> str:
    password = secrets.token_urlsafe(24)
    created = fab_airflow.ensure_admin(password)
    assert created.returncode == 0, created.stderr[-2000:]
    assert created.stdout.strip().endswith(f"admin user: {fab_airflow.admin!r} created with role Admin")
    return password


@pytest.fixture(scope="module")
def api_server(fab_airflow: FabAirflow, first_password: str) -> Iterator[FabAirflow]:
    port = free_port()
    command = [str(AIRFLOW_BIN), "api-server", "--host", LOOPBACK, "--port", str(port)]
    with running(
        "airflow api-server",
        command,
        port=port,
        ready_path="/api/v2/monitor/health",
        log_path=fab_airflow.logs / "api-server.log",
        env=fab_airflow.env,
        timeout=180,
    ) as server:
        fab_airflow.server = server
        yield fab_airflow


def test_an_unauthenticated_api_call_is_refused(api_server: FabAirflow) -> None:
    assert api_server.server is not None
    answer = httpx.get(f"{api_server.server.url}/api/v2/dags", timeout=30)

    assert answer.status_code == 401


def test_the_admin_from_the_secret_logs_in_and_reads_the_api(
    api_server: FabAirflow, first_password: str
) -> None:
    assert api_server.server is not None
    assert api_server.token("not-" + first_password).status_code == 401

    issued = api_server.token(first_password)

    assert issued.status_code in (200, 201), issued.text
    bearer = {"authorization": f"Bearer {issued.json()['access_token']}"}
    assert httpx.get(f"{api_server.server.url}/api/v2/dags", headers=bearer, timeout=30).status_code == 200


def test_the_job_is_idempotent_and_a_resealed_password_replaces_the_old_one(
    api_server: FabAirflow, first_password: str
) -> None:
    again = api_server.ensure_admin(first_password)
    rotated_password = secrets.token_urlsafe(24)
    rotated = api_server.ensure_admin(rotated_password)

    admin = api_server.admin
    assert again.stdout.strip().endswith(f"admin user: {admin!r} already as the Secret says")
    assert rotated.stdout.strip().endswith(f"admin user: {admin!r} password reset to the Secret's")
    assert api_server.token(first_password).status_code == 401
    assert api_server.token(rotated_password).status_code in (200, 201)
    for password in (first_password, rotated_password):
        assert password not in api_server.log_text()


@pytest.mark.parametrize("password", ["too-short", "a-password-with-its-sealed-newline\n"])
def test_an_unusable_password_fails_the_job_in_one_line_without_it(
    fab_airflow: FabAirflow, password: str
) -> None:
    refused = fab_airflow.ensure_admin(password)

    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "admin user: the password in AIRFLOW_ADMIN_PASSWORD must have at least 12 characters and no "
        "surrounding whitespace (a sealed trailing newline would be part of it)"
    ]
    assert password.strip() not in refused.stdout + refused.stderr
