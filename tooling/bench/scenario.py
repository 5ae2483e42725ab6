"""The bench's run: seed the registry, measure our app (then its hot swap), mlflow models serve, the floor."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from tooling.bench.load import BenchError, Load, check_reply, measure, run_wrk
from tooling.bench.procstat import group_cpu_seconds
from tooling.bench.report import BenchResults, SwapRun
from tooling.bench.servers import floor_server, mlflow_models_serve
from tooling.bench.wrk import parse_summary, wrk_command
from tooling.infra.localstack import (
    ROUTING_MODES,
    ServerProcess,
    app_server,
    mlflow_client_credentials,
    mlflow_server,
)
from tooling.infra.proc import one_line
from tooling.infra.registry_seed import point_alias, seed_variants
from tooling.model import DEFAULT_MODEL_NAME

MODEL_NAME = DEFAULT_MODEL_NAME
ROW = [5.1, 3.5, 1.4, 0.2]
CLIENT_ID = "bench-client"
OUR_BODY = json.dumps({"data": [ROW]})
MLFLOW_BODY = json.dumps({"inputs": [ROW]})  # the model's signature is a tensor spec: the "inputs" format
V2_PATH = f"/v2/models/{MODEL_NAME}/infer"
V2_BODY = json.dumps(
    {"inputs": [{"name": "input-0", "shape": [1, len(ROW)], "datatype": "FP64", "data": ROW}]}
)
"""The Open Inference Protocol's one-row request: the same body for every v2 server the bench compares."""


def reload_b_every_second(
    app: ServerProcess, mlflow_url: str, token: str, versions: list[str], wrk: subprocess.Popen[str]
) -> tuple[int, int]:
    """Move @B between ``versions`` and reload it once a second while ``wrk`` runs: (reloads, failures)."""
    reloads = failures = 0
    next_tick = time.monotonic()
    with httpx.Client(base_url=app.url, headers={"x-token": token}, timeout=30) as client:
        for version in itertools.cycle(versions):
            if wrk.poll() is not None:
                break
            point_alias(mlflow_url, MODEL_NAME, "B", version)
            reply = client.post("/variant/B/reload")
            reloads += 1
            if reply.status_code != 200 or reply.json().get("version") != version:
                failures += 1
                print(f"  reload of @B to v{version}: HTTP {reply.status_code} {one_line(reply.text)}")
            next_tick += 1.0
            time.sleep(max(0.0, next_tick - time.monotonic()))
    return reloads, failures


def hot_swap_run(
    app: ServerProcess, mlflow_url: str, token: str, versions: dict[str, str], load: Load
) -> SwapRun:
    url = f"{app.url}/variant/B/predict"
    cpu_before = group_cpu_seconds(app.process.pid)
    steady = run_wrk(url, OUR_BODY, load.swap_seconds, load)
    steady = replace(steady, server_cpu_seconds=group_cpu_seconds(app.process.pid) - cpu_before)
    alternating = [versions["A"], versions["B"]]  # @B starts on versions["B"]: the first reload moves it
    command = wrk_command(url, OUR_BODY, seconds=load.swap_seconds, connections=load.connections)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as wrk:
        try:
            reloads, failures = reload_b_every_second(app, mlflow_url, token, alternating, wrk)
            output, errors = wrk.communicate(timeout=60)
        finally:
            if wrk.poll() is None:
                wrk.kill()
    if wrk.returncode != 0:
        raise BenchError(f"wrk failed against {url}: {one_line(errors)}")
    return SwapRun(steady, parse_summary(output), reloads, failures)


def predictions_agree(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    return bool(ours.get("prediction") == theirs.get("predictions"))


def run_bench(workdir: Path, load: Load, token: str) -> BenchResults:
    print(f"starting mlflow server and registering {MODEL_NAME} @A and @B (logs in {workdir})", flush=True)
    # The registry runs with auth: this process seeds and moves @B as the writer, the apps read as the reader.
    with mlflow_server(workdir / "mlflow") as mlflow, mlflow_client_credentials(mlflow.users.writer):
        versions = seed_variants(mlflow.url, MODEL_NAME)
        app_env = {
            **mlflow.serving_env(),
            "RELOAD_SECRET_TOKEN": token,
            "LOG_FILE": str(workdir / "logs" / "fastapi.log"),  # as in the cluster: stdout and a file
            **ROUTING_MODES["canary"],
        }
        with app_server(app_env, workdir / "app.out") as app:
            reply = check_reply(app, "/predict", OUR_BODY, CLIENT_ID)
            version, ours_body = reply.headers["x-model-version"], reply.json()
            print(f"our app: {CLIENT_ID} routed to @{reply.headers['x-variant']} (v{version})", flush=True)
            ours = measure(app, "/predict", OUR_BODY, load, CLIENT_ID)
            v2_body = check_reply(app, V2_PATH, V2_BODY, CLIENT_ID).json()
            if v2_body["outputs"][0]["data"] != ours_body["prediction"]:
                raise BenchError(f"v2 and /predict differ for v{version}: {v2_body} against {ours_body}")
            ours_v2 = measure(app, V2_PATH, V2_BODY, load, CLIENT_ID)
            print(f"our app: {ours.rps:,.0f} req/s, v2 {ours_v2.rps:,.0f} req/s; hot swap", flush=True)
            swap = hot_swap_run(app, mlflow.url, token, versions, load)
        with mlflow_models_serve(mlflow, version, workdir / "mlflow-models-serve.log") as serve:
            theirs_body = check_reply(serve, "/invocations", MLFLOW_BODY).json()
            if not predictions_agree(ours_body, theirs_body):
                raise BenchError(f"predictions differ for v{version}: ours {ours_body}, mlflow {theirs_body}")
            print(f"mlflow models serve v{version}: same prediction; measuring", flush=True)
            theirs = measure(serve, "/invocations", MLFLOW_BODY, load)
    with floor_server(workdir / "floor.log") as floor:
        check_reply(floor, "/predict", OUR_BODY)
        print("bare FastAPI floor: measuring", flush=True)
        floor_result = measure(floor, "/predict", OUR_BODY, load)
    return BenchResults(ours=ours, mlflow=theirs, floor=floor_result, swap=swap, ours_v2=ours_v2)
