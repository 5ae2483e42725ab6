"""``make demo``: the whole loop on this machine, with real servers on loopback and no Kubernetes.

1. a real ``mlflow server`` (SQLite + local artifacts) with two iris models as ``best_model`` @A and @B;
2. the serving app, started as its image starts it, once per routing mode: 500 requests with distinct
   client ids each, and the per-variant counts checked against the mode's settings (±5 points);
3. a new version registered, alias @B moved onto it, the app hot-swapped by its reload API, ``/models``
   shown before and after;
4. releases under client traffic on two replicas, through the release command (``make release``): a
   blue-green release switched and switched back, a canary that steps up and promotes, and a bad canary
   stopped at its first step and rolled back;
5. an A/B test with labelled feedback whose @B is deliberately worse: per-variant accuracy with intervals
   and the sequential verdict printed as labels arrive until it says ``B_worse``; then an A/A test that stays
   ``inconclusive``;
6. the training pipeline (the Airflow DAG ``ml_train_register_and_reload``, run by ``airflow dags test``)
   retrains, registers and releases the new version blue-green to two app replicas.

Every process started here is stopped on exit, on failure and on Ctrl-C. Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import time
from pathlib import Path

from tooling.demo.outcomes import run_experiment_stage
from tooling.demo.releases import run_blue_green_stage, run_canary_stage
from tooling.demo.stages import MODEL_NAME, run_hot_swap_stage, run_pipeline, run_routing_stage, show
from tooling.infra.localstack import mlflow_client_credentials, mlflow_server
from tooling.infra.proc import stop_on_sigterm
from tooling.infra.registry_seed import seed_variants
from tooling.model import REPO_ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.demo", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / ".demo", help="scratch space (recreated)")
    parser.add_argument("--skip-pipeline", action="store_true", help="stop after the hot swap")
    args = parser.parse_args(argv)
    shutil.rmtree(args.workdir, ignore_errors=True)
    token = secrets.token_urlsafe(24)  # this run's reload token; never printed
    started = time.monotonic()
    with stop_on_sigterm():
        try:
            print(f"starting mlflow server (logs in {args.workdir})")
            # MLflow runs with its basic-auth app; this process registers and moves aliases as the writer,
            # the serving apps read as the read-only user.
            with (
                mlflow_server(args.workdir / "mlflow") as mlflow,
                mlflow_client_credentials(mlflow.users.writer),
            ):
                versions = seed_variants(mlflow.url, MODEL_NAME)
                show(
                    f"registered {MODEL_NAME} at {mlflow.url}",
                    {f"@{a}": f"v{v}" for a, v in versions.items()},
                )
                ok = run_routing_stage(mlflow, args.workdir, token)
                ok &= run_hot_swap_stage(mlflow, args.workdir, token)
                ok &= run_blue_green_stage(mlflow, args.workdir, token)
                ok &= run_canary_stage(mlflow, args.workdir, token)
                ok &= run_experiment_stage(mlflow, args.workdir, token)
                if not args.skip_pipeline:
                    ok &= run_pipeline(mlflow, args.workdir, token)
        except KeyboardInterrupt:
            print("\ninterrupted: every process this demo started has been stopped", file=sys.stderr)
            return 130
    print(
        f"\n{'demo passed' if ok else 'demo FAILED'} in {time.monotonic() - started:.0f} s; "
        "every process it started is stopped"
    )
    return 0 if ok else 1
