"""``make demo``: the whole loop on this machine, with real servers on loopback and no Kubernetes.

1. a real ``mlflow server`` (SQLite + local artifacts) with two iris models as ``best_model`` @A and @B;
2. the serving app, started as its image starts it, once per routing mode: 500 requests with distinct
   client ids each, and the per-variant counts checked against the mode's settings (±5 points);
3. a new version registered, alias @B moved onto it, the app hot-swapped by its reload API, ``/models``
   shown before and after;
4. the training pipeline (the Airflow DAG, run by ``airflow dags test``) retrains, registers and moves
   @B, and reloads two app replicas.

Every process started here is stopped on exit, on failure and on Ctrl-C. Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from scripts.demo_pipeline import PipelineStageError, run_pipeline_stage
from scripts.localstack import REPO_ROOT, ServerProcess, app_server, mlflow_server
from scripts.registry_seed import point_alias, register_version, seed_variants

MODEL_NAME = "best_model"
REQUESTS_PER_MODE = 500
TOLERANCE_POINTS = 5.0
FEATURES = [[5.1, 3.5, 1.4, 0.2]]

# The three modes, with the seed's settings (blue-green serves DEFAULT_ALIAS=B to everyone).
MODES: dict[str, dict[str, str]] = {
    "blue_green": {"ALIAS_SELECTION_MODE": "blue_green", "DEFAULT_ALIAS": "B"},
    "ab_test": {"ALIAS_SELECTION_MODE": "ab_test", "AB_SPLIT_PERCENT": "90", "DEFAULT_ALIAS": "A"},
    "canary": {"ALIAS_SELECTION_MODE": "canary", "CANARY_PERCENT": "10", "DEFAULT_ALIAS": "A"},
}


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


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so every ``with`` below stops what it started."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_routing_stage(mlflow_url: str, workdir: Path, token: str) -> bool:
    ok = True
    print(f"\n== routing: {REQUESTS_PER_MODE} requests with distinct client ids per mode")
    print(f"{'mode':<11} {'settings':<38} {'A':>5} {'B':>5}  expected (±{TOLERANCE_POINTS:g} points)")
    for mode, settings in MODES.items():
        env = {"MLFLOW_TRACKING_URI": mlflow_url, "RELOAD_SECRET_TOKEN": token, **settings}
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


def run_hot_swap_stage(mlflow_url: str, workdir: Path, token: str) -> bool:
    env = {"MLFLOW_TRACKING_URI": mlflow_url, "RELOAD_SECRET_TOKEN": token, **MODES["canary"]}
    with app_server(env, workdir / "app-hot-swap.log") as app:
        show("/models before", models_summary(app))
        new = register_version(mlflow_url, MODEL_NAME, c=0.25, max_iter=300)
        point_alias(mlflow_url, MODEL_NAME, "B", new.version)
        print(f"\n== registered {MODEL_NAME} v{new.version}, moved @B onto it, reloading B")
        reply = httpx.post(f"{app.url}/variant/B/reload", headers={"x-token": token}, timeout=60)
        show(f"POST /variant/B/reload -> HTTP {reply.status_code}", reply.json())
        after = models_summary(app)
        show("/models after", after)
    return reply.status_code == 200 and after["B"].startswith(f"v{new.version} ")


def run_pipeline(mlflow_url: str, workdir: Path, token: str) -> bool:
    env = {"MLFLOW_TRACKING_URI": mlflow_url, "RELOAD_SECRET_TOKEN": token, **MODES["blue_green"]}
    with ExitStack() as stack:
        replicas = [stack.enter_context(app_server(env, workdir / f"replica-{i}.log")) for i in (1, 2)]
        print("\n== pipeline: the Airflow DAG retrains, registers, moves @B and reloads both replicas")
        try:
            run_pipeline_stage(mlflow_url, [r.url for r in replicas], token, workdir)
        except PipelineStageError as error:
            print(f"pipeline FAILED: {error}")
            return False
        show("/models on each replica after the DAG", {r.url: models_summary(r) for r in replicas})
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / ".demo", help="scratch space (recreated)")
    parser.add_argument("--skip-pipeline", action="store_true", help="stop after the hot swap")
    args = parser.parse_args(argv)
    shutil.rmtree(args.workdir, ignore_errors=True)
    token = secrets.token_urlsafe(24)  # this run's reload token; never printed
    started = time.monotonic()
    with stop_on_sigterm():
        try:
            print(f"starting mlflow server (logs in {args.workdir})")
            with mlflow_server(args.workdir / "mlflow") as mlflow:
                versions = seed_variants(mlflow.url, MODEL_NAME)
                show(
                    f"registered {MODEL_NAME} at {mlflow.url}",
                    {f"@{a}": f"v{v}" for a, v in versions.items()},
                )
                ok = run_routing_stage(mlflow.url, args.workdir, token)
                ok &= run_hot_swap_stage(mlflow.url, args.workdir, token)
                if not args.skip_pipeline:
                    ok &= run_pipeline(mlflow.url, args.workdir, token)
        except KeyboardInterrupt:
            print("\ninterrupted: every process this demo started has been stopped", file=sys.stderr)
            return 130
    print(
        f"\n{'demo passed' if ok else 'demo FAILED'} in {time.monotonic() - started:.0f} s; "
        "every process it started is stopped"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
