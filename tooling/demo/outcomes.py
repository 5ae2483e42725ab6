"""The outcomes stage of ``make demo``: labelled traffic, accuracy per variant and the verdict as it grows.

First an A/B test whose @B is deliberately worse (an over-regularised classifier): the verdict must reach
``B_worse``. Then an A/A test (both aliases on the same version, a new experiment id): it must stay
``inconclusive`` at every look. The traffic is seeded, so both runs are the same on every machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tooling.infra.localstack import MlflowServer, ServerProcess, app_server
from tooling.infra.registry_seed import point_alias, register_version
from tooling.infra.traffic import IRIS_ROWS, labelled_round

MODEL_NAME = "experiment_model"
LOOK_EVERY = 100  # labels per feedback call, and per printed look at GET /experiment
MAX_LABELS = 1500
WORSE_C = 0.003  # inverse regularisation: about 80 % accuracy on iris instead of about 97 %


def _interval(variant: dict[str, Any]) -> str:
    if variant["value"] is None:
        return f"{'n/a':>21}"
    low, high = variant["interval"]["lower"], variant["interval"]["upper"]
    return f"{variant['value']:6.1%} [{low:5.1%}, {high:5.1%}]"


def _look(report: dict[str, Any]) -> str:
    a, b = report["variants"]["A"], report["variants"]["B"]
    verdict = report["verdict"]
    needed = verdict["labels_needed"]
    tail = f" (~{needed} more labels)" if verdict["result"] == "inconclusive" and needed else ""
    return (
        f"{a['labelled'] + b['labelled']:>6}  A {a['labelled']:>4} {_interval(a)}   "
        f"B {b['labelled']:>4} {_interval(b)}   {verdict['result']}{tail}"
    )


def _experiment(app: ServerProcess, seed: int) -> list[str]:
    """Labelled traffic until a verdict or MAX_LABELS; the verdict at every look."""
    draws = np.random.default_rng(seed).integers(0, IRIS_ROWS, MAX_LABELS)
    verdicts = []
    with httpx.Client(timeout=30) as client:
        for start in range(0, MAX_LABELS, LOOK_EVERY):
            clients = [f"user-{index}" for index in range(start, start + LOOK_EVERY)]
            labelled_round(
                client, app.url, clients, [[int(row)] for row in draws[start : start + LOOK_EVERY]]
            )
            report = client.get(f"{app.url}/experiment").raise_for_status().json()
            print(_look(report))
            verdicts.append(report["verdict"]["result"])
            if verdicts[-1] != "inconclusive":
                break
    return verdicts


def run_experiment_stage(mlflow: MlflowServer, workdir: Path, token: str) -> bool:
    good = register_version(mlflow.url, MODEL_NAME).version
    worse = register_version(mlflow.url, MODEL_NAME, c=WORSE_C).version
    point_alias(mlflow.url, MODEL_NAME, "A", good)
    point_alias(mlflow.url, MODEL_NAME, "B", worse)
    env = {
        **mlflow.serving_env(), "RELOAD_SECRET_TOKEN": token, "MODEL_NAME": MODEL_NAME,
        "ALIAS_SELECTION_MODE": "ab_test", "AB_SPLIT_PERCENT": "50",
        "PREDICTION_LOG_URL": f"sqlite:///{workdir / 'experiment' / 'predictions.db'}",
    }  # fmt: skip
    header = f"{'labels':>6}  {'A: labelled, accuracy [interval]':<33} {'B: the same':<32} verdict"
    print(f"\n== A/B test with feedback: @A v{good}, @B v{worse} (deliberately worse), 50/50, a look every "
          f"{LOOK_EVERY} labels")  # fmt: skip
    print(header)
    with app_server({**env, "EXPERIMENT_ID": "demo-ab"}, workdir / "experiment-ab.log") as app:
        ab = _experiment(app, seed=1)
    point_alias(mlflow.url, MODEL_NAME, "B", good)
    print(f"\n== A/A test: @A and @B both v{good}, a new experiment id; the verdict must stay inconclusive")
    print(header)
    with app_server({**env, "EXPERIMENT_ID": "demo-aa"}, workdir / "experiment-aa.log") as app:
        aa = _experiment(app, seed=2)
    ab_ok, aa_ok = ab[-1] == "B_worse", set(aa) == {"inconclusive"}
    print(f"A/B verdict {ab[-1]}: {'ok' if ab_ok else 'FAILED'}; A/A: {'ok' if aa_ok else 'FAILED'}")
    return ab_ok and aa_ok
