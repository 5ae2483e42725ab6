"""Releases end to end: the release command against a real MLflow server and two real replicas under load.

Every test has its own registered model and replicas (``start_fleet``); traffic comes from a fixed population
of clients (``tooling.infra.traffic``), so each client's sequence of served versions can be checked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from mlflow import MlflowClient

from mlpipeline.registry import client
from mlpipeline.release.controller import ReleaseController
from serving.inference.routing import bucket
from tests.app.support import wait_for
from tests.pipeline.support import alias_versions
from tests.release.conftest import StartFleet
from tests.release.support import WATCHER_POLL_SECONDS, Fleet, output
from tooling.infra import traffic
from tooling.infra.localstack import LOCAL_RELEASE_POLICY, app_server, free_port
from tooling.infra.registry_seed import SERVE_MODELS_FROM_CODE, register_faulty_version, register_version
from tooling.infra.traffic import Reply, client_traffic, flip_flops
from tooling.model import REPO_ROOT

pytestmark = pytest.mark.slow

CANARY = {"ALIAS_SELECTION_MODE": "canary", "CANARY_PERCENT": "10", "DEFAULT_ALIAS": "A"}
BLUE_GREEN = {"ALIAS_SELECTION_MODE": "blue_green", "DEFAULT_ALIAS": "A"}
AB_TEST = {"ALIAS_SELECTION_MODE": "ab_test", "AB_SPLIT_PERCENT": "90", "DEFAULT_ALIAS": "A"}
FIRST_STEP = int(LOCAL_RELEASE_POLICY["RELEASE_STEPS"].split(",")[0])


def registry(fleet: Fleet) -> MlflowClient:
    return client(fleet.mlflow_url)


def aliases(fleet: Fleet) -> dict[str, str]:
    return alias_versions(fleet.mlflow_url, fleet.model_name)


def at_first_step(fleet: Fleet) -> bool:
    reports = fleet.reports().values()
    return all(r["phase"] == "releasing" and r["canary_percent"] == FIRST_STEP for r in reports)


def failures(replies: list[Reply]) -> list[Reply]:
    return [reply for reply in replies if reply.failed]


def test_canary_steps_up_under_load_and_promotes(start_fleet: StartFleet) -> None:
    with start_fleet(**CANARY) as fleet:
        candidate = register_version(fleet.mlflow_url, fleet.model_name, c=0.3).version
        with client_traffic(fleet.urls) as traffic:
            finished = fleet.command("release", "--version", candidate)

        assert finished.returncode == 0, output(finished)
        for step in LOCAL_RELEASE_POLICY["RELEASE_STEPS"].split(","):
            assert f"canary {step}%: gates passed" in finished.stdout, output(finished)
        replies = traffic.since()
        assert failures(replies) == []
        assert flip_flops(replies, candidate) == []  # sticky buckets: A to B only, never back
        assert {reply.version for reply in replies} >= {fleet.seeded["A"], candidate}
        assert aliases(fleet) == {"A": candidate, "B": candidate}
        assert fleet.agreed("versions") == {"A": candidate, "B": candidate}
        assert (fleet.agreed("phase"), fleet.agreed("canary_percent")) == ("promoted", 0)


def test_a_bad_canary_is_stopped_at_its_first_step_and_rolled_back(start_fleet: StartFleet) -> None:
    # The faulty candidate is a model from code: only this fleet is allowed to load it.
    with start_fleet(**CANARY, **SERVE_MODELS_FROM_CODE) as fleet:
        bad = register_faulty_version(fleet.mlflow_url, fleet.model_name).version
        with client_traffic(fleet.urls) as traffic:
            finished = fleet.command("release", "--version", bad)

        assert finished.returncode == 1, output(finished)
        assert f"canary {FIRST_STEP}%: error_rate FAILED" in finished.stdout, output(finished)
        assert "canary 50%" not in finished.stdout
        failed = failures(traffic.since())
        assert failed, "the faulty candidate never served a request: the gate saw nothing"
        # Only clients in the canary's share ever saw a failure.
        assert all(bucket(reply.client) < FIRST_STEP for reply in failed), failed[:5]
        assert aliases(fleet) == fleet.seeded
        assert fleet.agreed("versions") == fleet.seeded  # no replica left on the candidate
        # Weight 0 first, @B back, then the weight the fleet had before the release (CANARY_PERCENT).
        assert (fleet.agreed("phase"), fleet.agreed("canary_percent")) == ("rolled_back", 10)
        assert "routing back: live=A canary=0%" in finished.stdout


def test_blue_green_switches_and_switches_back_under_load_and_rollback_is_idempotent(
    start_fleet: StartFleet,
) -> None:
    with start_fleet(**BLUE_GREEN) as fleet:
        candidate = register_version(fleet.mlflow_url, fleet.model_name, c=0.3).version
        with client_traffic(fleet.urls) as traffic:
            released = fleet.command("release", "--version", candidate)
            assert released.returncode == 0, output(released)
            assert (fleet.agreed("live"), fleet.agreed("versions")["B"]) == ("B", candidate)
            switched = traffic.mark()
            assert wait_for(lambda: len(traffic.since(switched)) > 50)
            rolled_back = fleet.command("rollback")

        assert rolled_back.returncode == 0, output(rolled_back)
        assert failures(traffic.since()) == []
        after_switch = traffic.since(switched)
        assert {reply.version for reply in after_switch} >= {candidate}
        assert "check on @B" in released.stdout  # the idle colour answered on every replica first
        assert fleet.agreed("live") == "A"
        assert aliases(fleet) == fleet.seeded
        state = fleet.reports()

        again = fleet.command("rollback")
        assert again.returncode == 0, output(again)
        assert "nothing to roll back" in again.stdout
        assert fleet.reports() == state  # never a toggle

        # A restarted replica and the watchers' later polls keep the rollback.
        restarted_env = {
            **fleet.mlflow.serving_env(),
            "MODEL_NAME": fleet.model_name,
            **BLUE_GREEN,
            "DEFAULT_ALIAS": "B",  # settings alone would route to B: the release state must win
        }
        with app_server(restarted_env, fleet.replicas[0].log_path.with_name("restarted.log")) as restarted:
            report = httpx.get(f"{restarted.url}/release", timeout=10).json()
        assert (report["live"], report["phase"]) == ("A", "rolled_back")
        assert report["sources"]["live"] == "release_state"
        time.sleep(3 * WATCHER_POLL_SECONDS)  # let every replica's watcher poll the registry a few times
        assert fleet.reports() == state


def test_ab_test_release_loads_the_candidate_on_every_replica_with_a_new_experiment(
    start_fleet: StartFleet,
) -> None:
    with start_fleet(**AB_TEST) as fleet:
        candidate = register_version(fleet.mlflow_url, fleet.model_name, c=0.3).version
        with client_traffic(fleet.urls) as traffic:
            finished = fleet.command("release", "--version", candidate)

        assert finished.returncode == 0, output(finished)
        assert failures(traffic.since()) == []
        assert fleet.agreed("versions") == {"A": fleet.seeded["A"], "B": candidate}
        assert fleet.agreed("ab_split_percent") == 90
        assert fleet.agreed("experiment_id")


def labelled_round(urls: list[str], start: int, requests: int = 20, rows: int = 10) -> None:
    """``requests`` predictions of ``rows`` iris rows per replica, each from a new client, then their true
    labels in one list to the replica that served them (its own records are flushed before it looks)."""
    picks = np.random.default_rng(start)
    with httpx.Client(timeout=30) as http:
        for url in urls:
            clients = [f"client-{url[-5:]}-{index}" for index in range(start, start + requests)]
            draws = [picks.integers(traffic.IRIS_ROWS, size=rows).tolist() for _ in clients]
            assert traffic.labelled_round(http, url, clients, draws) == requests


def test_an_ab_release_of_a_worse_model_is_concluded_on_its_verdict_and_rolled_back(
    start_fleet: StartFleet, tmp_path: Path
) -> None:
    # One prediction log for both replicas (as PostgreSQL is in the cluster): either answers for the fleet.
    shared = f"sqlite:///{tmp_path / 'shared' / 'predictions.db'}"
    with start_fleet(**{**AB_TEST, "AB_SPLIT_PERCENT": "50", "PREDICTION_LOG_URL": shared}) as fleet:
        worse = register_version(fleet.mlflow_url, fleet.model_name, c=0.003).version  # ~80 % vs ~97 %
        released = fleet.command("release", "--version", worse)
        assert released.returncode == 0, output(released)
        early = fleet.command("conclude")  # no labels yet: nothing to conclude on

        report: dict[str, Any] = {}
        for start in range(0, 20 * 20, 20):  # at most 8,000 labels; a few hundred are expected to do
            labelled_round(fleet.urls, start)
            report = httpx.get(f"{fleet.urls[0]}/experiment", timeout=30).json()
            if report["verdict"]["result"] != "inconclusive":
                break
        concluded = fleet.command("conclude")

        assert early.returncode == 1, output(early)
        assert "not concluded, nothing changed" in early.stdout
        assert report["verdict"]["result"] == "B_worse", report
        assert report["experiment_id"] == fleet.agreed("release_id")
        assert concluded.returncode == 0, output(concluded)
        assert f"concluded: the candidate v{worse} on @B lost (B_worse): rolled back" in concluded.stdout
        assert aliases(fleet) == fleet.seeded
        assert fleet.agreed("versions") == fleet.seeded
        assert fleet.agreed("phase") == "rolled_back"


def test_an_unreachable_replica_is_named_and_nothing_moves(start_fleet: StartFleet) -> None:
    with start_fleet(**CANARY) as fleet:
        gone = f"http://127.0.0.1:{free_port()}"
        fleet.extra_urls.append(gone)
        candidate = register_version(fleet.mlflow_url, fleet.model_name, c=0.3).version

        status = fleet.command("status")
        finished = fleet.command("release", "--version", candidate)

        assert status.returncode == 1, output(status)
        assert gone in status.stdout
        assert "DISAGREE or are unreachable" in status.stdout
        assert all(url in status.stdout for url in fleet.urls)
        assert finished.returncode == 1, output(finished)
        assert gone in finished.stdout
        assert aliases(fleet) == fleet.seeded


def test_a_killed_release_resumes_with_the_versions_it_recorded_before_anything_moved(
    start_fleet: StartFleet,
) -> None:
    with start_fleet(**CANARY) as fleet:
        candidate = register_version(fleet.mlflow_url, fleet.model_name, c=0.3).version
        # A window that cannot close early: the run is still at its first step when it is killed.
        stuck = fleet.environment(RELEASE_MIN_REQUESTS="1000000", RELEASE_STEP_SECONDS="600")
        with client_traffic(fleet.urls):
            run = subprocess.Popen(
                [sys.executable, "-m", "tooling.release", "release", "--version", candidate],
                cwd=REPO_ROOT,
                env={**os.environ, **stuck},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                assert wait_for(lambda: at_first_step(fleet), timeout=120)
            finally:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait(timeout=30)
            assert fleet.agreed("phase") == "releasing"

            resumed = fleet.command("release", "--version", candidate)
        assert resumed.returncode == 0, output(resumed)
        assert f"before kept: @A=v{fleet.seeded['A']} @B=v{fleet.seeded['B']}" in resumed.stdout

        rolled_back = fleet.command("rollback")
        assert rolled_back.returncode == 0, output(rolled_back)
        assert aliases(fleet) == fleet.seeded  # the versions from before the first, killed run
        assert fleet.agreed("versions") == fleet.seeded


def test_a_manual_alias_move_during_a_release_is_never_overwritten(start_fleet: StartFleet) -> None:
    with start_fleet(**CANARY) as fleet:
        candidate = register_version(fleet.mlflow_url, fleet.model_name, c=0.3).version
        manual = register_version(fleet.mlflow_url, fleet.model_name, c=0.7).version
        lines: list[str] = []

        def report(line: str) -> None:
            lines.append(line)
            if line.startswith(f"canary {FIRST_STEP}%: every replica routes"):
                # Someone moves @A by hand while the canary runs; the promotion must not overwrite it.
                registry(fleet).set_registered_model_alias(fleet.model_name, "A", manual)

        controller = ReleaseController.from_env(fleet.environment(), report)
        with client_traffic(fleet.urls):
            outcome = controller.release(candidate)

        assert outcome.exit_code == 1, "\n".join(lines)
        assert any(f"v{manual}" in line and "@A" in line for line in lines), lines
        assert aliases(fleet) == {"A": manual, "B": fleet.seeded["B"]}
        assert fleet.agreed("phase") == "rolled_back"
