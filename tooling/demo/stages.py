"""The stages of ``make demo``: routing per mode, a hot swap, the pipeline; each returns whether it passed."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tooling.infra.airflow import DAG_ID, PipelineStageError, run_pipeline_stage
from tooling.infra.localstack import ROUTING_MODES, MlflowServer, ServerProcess, app_server
from tooling.infra.registry_seed import point_alias, register_version
from tooling.model import DEFAULT_MODEL_NAME

MODEL_NAME = DEFAULT_MODEL_NAME
REQUESTS_PER_MODE = 500
TOLERANCE_POINTS = 5.0
FEATURES = [[5.1, 3.5, 1.4, 0.2]]


def expected_shares(settings: dict[str, str]) -> dict[str, float]:
    """The percentage of clients each variant should get under ``settings``."""
    mode = settings["ALIAS_SELECTION_MODE"]
    if mode == "blue_green":
        default = settings["DEFAULT_ALIAS"]
        return {default: 100.0, "B" if default == "A" else "A": 0.0}
    if mode == "ab_test":
        a_share = float(settings["AB_SPLIT_PERCENT"])
        return {"A": a_share, "B": 100.0 - a_share}
    b_share = float(settings["CANARY_PERCENT"])
    return {"A": 100.0 - b_share, "B": b_share}


def split_is_within(counts: Counter[str], expected: dict[str, float], tolerance: float) -> bool:
    total = sum(counts.values())
    return total > 0 and all(
        abs(100.0 * counts[v] / total - share) <= tolerance for v, share in expected.items()
    )


def route_clients(app: ServerProcess, n_clients: int) -> Counter[str]:
    """Send one request per distinct client id; count the variant each response names."""
    counts: Counter[str] = Counter()
    with httpx.Client(base_url=app.url, timeout=10) as client:
        for index in range(n_clients):
            response = client.post(
                "/predict", json={"data": FEATURES}, headers={"x-client-id": f"client-{index}"}
            )
            response.raise_for_status()
            counts[response.headers["x-variant"]] += 1
    return counts


def show(title: str, payload: Any) -> None:
    print(f"\n== {title}")
    print(json.dumps(payload, indent=2, sort_keys=True))


def models_summary(app: ServerProcess) -> dict[str, str]:
    variants = httpx.get(f"{app.url}/models", timeout=10).json()["variants"]
    return {
        alias: f"v{info['version']} (run {info['run_id'][:8]})" for alias, info in sorted(variants.items())
    }


def run_routing_stage(mlflow: MlflowServer, workdir: Path, token: str) -> bool:
    ok = True
    print(f"\n== routing: {REQUESTS_PER_MODE} requests with distinct client ids per mode")
    print(f"{'mode':<11} {'settings':<38} {'A':>5} {'B':>5}  expected (±{TOLERANCE_POINTS:g} points)")
    for mode, settings in ROUTING_MODES.items():
        env = {**mlflow.serving_env(), "RELOAD_SECRET_TOKEN": token, **settings}
        with app_server(env, workdir / f"app-{mode}.log") as app:
            counts = route_clients(app, REQUESTS_PER_MODE)
        expected = expected_shares(settings)
        passed = split_is_within(counts, expected, TOLERANCE_POINTS)
        ok &= passed
        described = " ".join(f"{k}={v}" for k, v in settings.items() if k != "ALIAS_SELECTION_MODE")
        target = " ".join(f"{v}={share:g}%" for v, share in sorted(expected.items()))
        verdict = "ok" if passed else "FAILED"
        print(f"{mode:<11} {described:<38} {counts['A']:>5} {counts['B']:>5}  {target}  {verdict}")
    return ok


def run_hot_swap_stage(mlflow: MlflowServer, workdir: Path, token: str) -> bool:
    env = {**mlflow.serving_env(), "RELOAD_SECRET_TOKEN": token, **ROUTING_MODES["canary"]}
    with app_server(env, workdir / "app-hot-swap.log") as app:
        show("/models before", models_summary(app))
        new = register_version(mlflow.url, MODEL_NAME, c=0.25, max_iter=300)
        point_alias(mlflow.url, MODEL_NAME, "B", new.version)
        print(f"\n== registered {MODEL_NAME} v{new.version}, moved @B onto it, reloading B")
        reply = httpx.post(f"{app.url}/variant/B/reload", headers={"x-token": token}, timeout=60)
        show(f"POST /variant/B/reload -> HTTP {reply.status_code}", reply.json())
        after = models_summary(app)
        show("/models after", after)
    return reply.status_code == 200 and after["B"].startswith(f"v{new.version} ")


def run_pipeline(mlflow: MlflowServer, workdir: Path, token: str) -> bool:
    env = {**mlflow.serving_env(), "RELOAD_SECRET_TOKEN": token, **ROUTING_MODES["blue_green"]}
    with ExitStack() as stack:
        replicas = [stack.enter_context(app_server(env, workdir / f"replica-{i}.log")) for i in (1, 2)]
        print(
            f"\n== pipeline: the Airflow DAG {DAG_ID} retrains, registers and releases the new version "
            "blue-green to both replicas (the idle colour, then the switch)"
        )
        try:
            run_pipeline_stage(
                mlflow.url, [r.url for r in replicas], token, workdir, writer=mlflow.users.writer
            )
        except PipelineStageError as error:
            print(f"pipeline FAILED: {error}")
            return False
        show("/models on each replica after the DAG", {r.url: models_summary(r) for r in replicas})
    return True
