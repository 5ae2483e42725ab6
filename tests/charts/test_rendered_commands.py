"""The rendered containers against the real programs they start: Airflow's CLI and config, MLflow's server.

Only the cluster is missing here, so each test takes the command and environment from ``helm template`` and
hands them to the real program, replacing nothing but what points into the cluster (bind address, port,
database and artifact locations).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

import httpx
import pytest

from tooling.infra.helm import parse_manifests, render_text
from tooling.infra.localstack import (
    LOOPBACK,
    MlflowServer,
    app_command,
    app_server,
    free_port,
    running,
    venv_bin,
)
from tooling.model import APP_DIR, ENVIRONMENTS, REPO_ROOT, Deployment, mlflow_service_url

pytestmark = pytest.mark.slow

AIRFLOW_PYTHON = REPO_ROOT / ".venv-airflow" / "bin" / "python"

# Run inside the Airflow environment: parse each command with Airflow's own CLI parser (no side effects)
# and look each AIRFLOW__SECTION__KEY up in its configuration reference (config.yml). Prints the problems.
AIRFLOW_CHECK = """
import json, sys
from airflow.cli.cli_parser import get_parser
from airflow.configuration import conf
commands, settings = json.load(sys.stdin)
problems = []
parser = get_parser()
for args in commands:
    try:
        parser.parse_args(args[1:])
    except SystemExit:
        problems.append("command rejected: " + " ".join(args))
for name in settings:
    section, key = name.removeprefix("AIRFLOW__").lower().split("__", 1)
    if key not in conf.configuration_description.get(section, {}).get("options", {}):
        problems.append("unknown setting: " + name)
print(json.dumps(problems))
"""


def rendered(component: str, env: str) -> list[dict[str, Any]]:
    return [manifest.obj for manifest in parse_manifests(render_text(Deployment(component, env)))]


def containers(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pods = [obj["spec"]["template"]["spec"] for obj in objects if obj["kind"] in ("Deployment", "Job")]
    return [c for pod in pods for c in [*pod.get("initContainers", []), *pod["containers"]]]


@pytest.mark.skipif(not AIRFLOW_PYTHON.exists(), reason="needs .venv-airflow (bin/bootstrap airflow)")
def test_airflow_accepts_every_rendered_command_and_setting() -> None:
    rendered_containers = [c for env in ENVIRONMENTS for c in containers(rendered("airflow", env))]
    commands = {tuple(c["args"]) for c in rendered_containers}
    probes = [c[key] for c in rendered_containers for key in c if key.endswith("Probe")]
    commands |= {tuple(probe["exec"]["command"]) for probe in probes if "exec" in probe}
    settings = {e["name"] for c in rendered_containers for e in c["env"] if e["name"].startswith("AIRFLOW__")}
    assert {args[:2] for args in commands} >= {("airflow", "scheduler"), ("airflow", "api-server")}
    # A script the chart hands to ``python -c`` (the admin user's) is run for real by test_airflow_auth.py;
    # here it must at least be Python, and every other command is Airflow's CLI.
    scripts = [args[2] for args in commands if args[:2] == ("python", "-c")]
    for script in scripts:
        compile(script, "<rendered python -c>", "exec")
    cli_commands = [args for args in commands if args[:2] != ("python", "-c")]
    assert scripts
    assert all(args[0] == "airflow" for args in cli_commands), sorted(commands)

    result = subprocess.run(
        [str(AIRFLOW_PYTHON), "-c", AIRFLOW_CHECK],
        input=json.dumps([sorted(cli_commands), sorted(settings)]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def _secret_env(container: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """The container's secretKeyRef variables among ``values`` (what the sealed Secrets would hold)."""
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["key"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    return {name: values[key] for name, key in refs.items() if key in values}


def test_mlflow_runs_the_rendered_auth_app_and_users_job(tmp_path: Path) -> None:
    """The dev render: the server with its basic-auth config, then the users Job's script, run twice; then
    only the writer creates."""
    objects = rendered("mlflow", "dev")
    [server_container] = [c for c in containers(objects) if c["name"] == "mlflow"]
    [job_container] = [c for c in containers(objects) if c["name"] == "create-users"]
    [auth_config] = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-auth")
    ]
    secrets = {
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin",
        "MLFLOW_AUTH_ADMIN_PASSWORD": token_urlsafe(16),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": token_urlsafe(32),
        "READER_USERNAME": "serving-reader",
        "READER_PASSWORD": token_urlsafe(16),
        "WRITER_USERNAME": "pipeline-writer",
        "WRITER_PASSWORD": token_urlsafe(16),
    }
    admin, reader, writer = (
        (secrets[f"{user}_USERNAME"], secrets[f"{user}_PASSWORD"])
        for user in ("MLFLOW_AUTH_ADMIN", "READER", "WRITER")
    )
    config = auth_config["data"]["basic_auth.ini"].replace("/mlflow/data/", f"{tmp_path}/")
    (tmp_path / "basic_auth.ini").write_text(config)
    (tmp_path / "create_users.py").write_text(auth_config["data"]["create_users.py"])

    port = free_port()
    in_cluster = {
        "--host=": "--host=127.0.0.1",
        "--port=": f"--port={port}",
        "--backend-store-uri=": f"--backend-store-uri=sqlite:///{tmp_path / 'mlflow.db'}",
        "--artifacts-destination=": f"--artifacts-destination={tmp_path / 'artifacts'}",
    }
    args = [
        next((v for k, v in in_cluster.items() if arg.startswith(k)), arg) for arg in server_container["args"]
    ]
    assert any(arg.startswith("--allowed-hosts=") for arg in args)
    env = {e["name"]: e["value"] for e in server_container["env"] if "value" in e and e["name"] != "HOME"}
    env |= _secret_env(server_container, secrets) | {
        "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "basic_auth.ini")
    }
    command = [venv_bin(server_container["command"][0]), *server_container["command"][1:], *args]

    with running(
        "mlflow", command, port=port, ready_path="/health", log_path=tmp_path / "log", env=env
    ) as server:

        def status(host: str, auth: tuple[str, str] | None = admin) -> int:
            url = f"{server.url}/api/2.0/mlflow/experiments/search?max_results=1"
            return httpx.get(url, headers={"Host": host}, auth=auth, timeout=30).status_code

        service_host = mlflow_service_url("dev").removeprefix("http://")
        assert status(service_host) == 200
        assert status(service_host.split(":")[0]) == 200
        assert status("mlflow-dev-service:5000") == 200
        assert status("mlflow.local") == 200
        assert status("mlflow-prod-service.mlflow-prod.svc.cluster.local:5000") == 403
        assert status("attacker.example") == 403
        assert status(service_host, auth=None) == 401

        job_env = {e["name"]: e["value"] for e in job_container["env"] if "value" in e}
        job_env |= _secret_env(job_container, secrets) | {"MLFLOW_URL": server.url}
        job = [venv_bin("python"), str(tmp_path / "create_users.py")]
        runs = [
            subprocess.run(job, env=job_env, capture_output=True, text=True, timeout=120) for _ in range(2)
        ]
        assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr
        assert "serving-reader: created" in runs[0].stdout
        assert "serving-reader: exists, password set from its Secret" in runs[1].stdout
        assert "pipeline-writer: may create (role assigned)" in runs[0].stdout
        assert "pipeline-writer: may create\n" in runs[1].stdout
        assert "serving-reader: read-only\n" in runs[1].stdout
        printed = "".join(run.stdout + run.stderr for run in runs)
        assert [value for name, value in secrets.items() if name.endswith(("PASSWORD", "KEY"))] != []
        assert not [
            name for name in secrets if name.endswith(("PASSWORD", "KEY")) and secrets[name] in printed
        ]
        assert status(service_host, auth=reader) == 200
        with httpx.Client(base_url=server.url, headers={"Host": service_host}, timeout=30) as http:
            model = {"name": "job_checked"}
            tag = {**model, "key": "planted", "value": "1"}
            squatted = http.post("/api/2.0/mlflow/registered-models/create", json=model, auth=reader)
            planted = http.post("/api/2.0/mlflow/experiments/create", json=model, auth=reader)
            created = http.post("/api/2.0/mlflow/registered-models/create", json=model, auth=writer)
            tagged = http.post("/api/2.0/mlflow/registered-models/set-tag", json=tag, auth=reader)
        assert squatted.status_code == planted.status_code == 403
        assert created.status_code == 200
        assert tagged.status_code == 403


def image_command() -> list[str]:
    """The serving image's CMD (exec form, possibly continued over lines)."""
    dockerfile = (APP_DIR / "Dockerfile").read_text().replace("\\\n", "")
    [cmd] = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]
    command: list[str] = json.loads(cmd.removeprefix("CMD "))
    return command


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_local_stack_starts_the_app_as_the_chart_and_the_image_do(env: str) -> None:
    """The server's limits included: what the tests and the demo run is what the pods run."""
    [deployment] = [obj for obj in rendered("fastapi", env) if obj["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    port = container["ports"][0]["containerPort"]
    host = container["command"][container["command"].index("--host") + 1]  # the pod's, not loopback

    def on_loopback(command: list[str]) -> list[str]:
        return [LOOPBACK if arg == host else arg for arg in command]

    local = ["uvicorn", *app_command(port)[1:]]
    assert on_loopback(container["command"]) == local == on_loopback(image_command())
    assert "--limit-concurrency" in local


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_serving_app_runs_on_the_rendered_environment(
    env: str, mlflow: MlflowServer, seeded_versions: dict[str, str], tmp_path: Path
) -> None:
    [deployment] = [obj for obj in rendered("fastapi", env) if obj["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    settings = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert settings["MLFLOW_TRACKING_URI"] == mlflow_service_url(env)
    log_mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "logs")
    assert settings["LOG_FILE"].startswith(log_mount + "/")

    log_file = tmp_path / "logs" / Path(settings["LOG_FILE"]).name
    settings |= {**mlflow.serving_env(), "LOG_FILE": str(log_file), "RELOAD_SECRET_TOKEN": "t"}
    with app_server(settings, tmp_path / "app.out") as app:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = container[probe]["httpGet"]["path"]
            assert eventually_ok(f"{app.url}{path}"), f"{probe} {path} never answered 200"
        models = httpx.get(f"{app.url}/models", timeout=30).json()
    assert models["mode"] == settings["ALIAS_SELECTION_MODE"]
    assert {v["version"] for v in models["variants"].values()} == set(seeded_versions.values())
    assert log_file.is_file()


def eventually_ok(url: str, attempts: int = 120) -> bool:
    """The readiness endpoint turns 200 once the default variant is loaded; poll, do not time it."""
    for _ in range(attempts):
        if httpx.get(url, timeout=30).status_code == 200:
            return True
        time.sleep(0.5)
    return False
