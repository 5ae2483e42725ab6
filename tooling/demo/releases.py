"""The release stages of ``make demo``: blue-green switch and switch back, a canary that promotes, and a
bad canary stopped at its first step — each under client traffic, through ``python -m tooling.release``
(what ``make release`` and ``make rollback`` run), with what the clients saw counted after each command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tooling.infra.localstack import (
    LOCAL_RELEASE_POLICY,
    MlflowServer,
    ServerProcess,
    app_server,
    release_environment,
)
from tooling.infra.registry_seed import SERVE_MODELS_FROM_CODE, register_faulty_version, register_version
from tooling.infra.traffic import Traffic, client_traffic, flip_flops
from tooling.model import DEFAULT_MODEL_NAME, REPO_ROOT

REPLICAS = 2
WATCHER_POLL_SECONDS = "1"


@dataclass(frozen=True)
class DemoFleet:
    mlflow: MlflowServer
    token: str
    replicas: list[ServerProcess]

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    def command(self, action: str, version: str | None = None) -> int:
        """Run the release command with this fleet's environment; its lines go straight to the terminal."""
        print(f"\n$ make {action}{f' MODEL_VERSION={version}' if version else ''}", flush=True)
        env = {
            **os.environ,
            **release_environment(
                self.mlflow.url, DEFAULT_MODEL_NAME, self.urls, self.token, writer=self.mlflow.users.writer
            ),
            "PYTHONUNBUFFERED": "1",
        }
        command = [sys.executable, "-m", "tooling.release", action]
        command += ["--version", version] if version else []
        return subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode


@contextmanager
def demo_fleet(
    mlflow: MlflowServer, token: str, workdir: Path, settings: dict[str, str]
) -> Iterator[DemoFleet]:
    env = {
        **mlflow.serving_env(),
        "MODEL_NAME": DEFAULT_MODEL_NAME,
        "RELOAD_SECRET_TOKEN": token,
        "REGISTRY_POLL_SECONDS": WATCHER_POLL_SECONDS,
        **settings,
    }
    mode = settings["ALIAS_SELECTION_MODE"]
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(app_server(env, workdir / f"{mode}-replica-{index}.log"))
            for index in range(1, REPLICAS + 1)
        ]
        yield DemoFleet(mlflow, token, replicas)


def clients_saw(traffic: Traffic, mark: int = 0) -> str:
    counts = traffic.counts(mark)
    total = sum(counts.values())
    shares = ", ".join(f"{label} {count / total:.0%}" for label, count in sorted(counts.items()))
    return f"clients saw {total} replies: {shares}"


def run_blue_green_stage(mlflow: MlflowServer, workdir: Path, token: str) -> bool:
    print("\n== blue-green release: the new version goes to the idle colour, then every replica switches")
    settings = {"ALIAS_SELECTION_MODE": "blue_green", "DEFAULT_ALIAS": "A"}
    with demo_fleet(mlflow, token, workdir, settings) as fleet:
        candidate = register_version(mlflow.url, DEFAULT_MODEL_NAME, c=0.3).version
        with client_traffic(fleet.urls) as traffic:
            released = fleet.command("release", candidate)
            print(clients_saw(traffic))
            switched = traffic.mark()
            rolled_back = fleet.command("rollback")
            print(clients_saw(traffic, switched))
        failed = traffic.counts()["failed"]
    print(f"blue-green: {failed} failed requests across the switch and the switch back")
    return released == 0 and rolled_back == 0 and failed == 0


def run_canary_stage(mlflow: MlflowServer, workdir: Path, token: str) -> bool:
    print(
        "\n== canary release: @B steps through "
        f"{LOCAL_RELEASE_POLICY['RELEASE_STEPS']}% of clients, each step analysed against @A, then promoted"
    )
    # The bad canary below is a model from code, which the app loads only when allowed: this fleet serves it.
    settings = {"ALIAS_SELECTION_MODE": "canary", "CANARY_PERCENT": "0", "DEFAULT_ALIAS": "A"}
    settings |= SERVE_MODELS_FROM_CODE
    with demo_fleet(mlflow, token, workdir, settings) as fleet:
        good = register_version(mlflow.url, DEFAULT_MODEL_NAME, c=0.2).version
        with client_traffic(fleet.urls) as traffic:
            promoted = fleet.command("release", good)
        print(clients_saw(traffic))
        moved_back = flip_flops(traffic.since(), good)
        print(f"clients that went back from v{good} to an older version: {len(moved_back)}")
        ok = promoted == 0 and traffic.counts()["failed"] == 0 and not moved_back

        print("\n== a bad canary: it fails on long petals (about half of the input), so its first step fails")
        bad = register_faulty_version(mlflow.url, DEFAULT_MODEL_NAME).version
        with client_traffic(fleet.urls) as traffic:
            stopped = fleet.command("release", bad)
        print(clients_saw(traffic))
        ok &= stopped == 1
    return ok
