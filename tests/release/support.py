"""The release suite's fleet: a fresh registered model and two real serving replicas per test, plus the
release command run exactly as ``make release`` runs it (``python -m tooling.release``, a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.pipeline.support import enter_concurrently, unique_model_name
from tooling.infra.localstack import MlflowServer, ServerProcess, app_server, release_environment
from tooling.infra.registry_seed import seed_variants
from tooling.model import REPO_ROOT

TOKEN = "release-test-token"
CLI_TIMEOUT_SECONDS = 300
WATCHER_POLL_SECONDS = 1.0


@dataclass
class Fleet:
    mlflow: MlflowServer
    model_name: str
    seeded: dict[str, str]
    replicas: list[ServerProcess]
    extra_urls: list[str] = field(default_factory=list)
    """Replica URLs the controller is told about beyond the running ones (an unreachable one, say)."""

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    @property
    def mlflow_url(self) -> str:
        return self.mlflow.url

    def environment(self, **overrides: str) -> dict[str, str]:
        """What the release command reads (the DAG gets the same from the Airflow chart)."""
        return {
            **release_environment(
                self.mlflow.url,
                self.model_name,
                [*self.urls, *self.extra_urls],
                TOKEN,
                writer=self.mlflow.users.writer,
            ),
            # The p99 gate is unit-tested; here, on a shared two-core machine, the p99 of a window of a few
            # dozen loopback requests is its slowest one: noise, which must not decide these tests.
            "RELEASE_MAX_P99_RATIO": "100",
            **overrides,
        }

    def command(self, *args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        """``python -m tooling.release <args>`` with this fleet's environment; output captured."""
        return subprocess.run(
            [sys.executable, "-m", "tooling.release", *args],
            cwd=REPO_ROOT,
            env={**os.environ, **self.environment(**overrides)},
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_SECONDS,
            check=False,
        )

    def reports(self) -> dict[str, dict[str, Any]]:
        """Each running replica's ``GET /release``."""
        with httpx.Client(timeout=10) as http:
            return {url: http.get(f"{url}/release").json() for url in self.urls}

    def agreed(self, key: str) -> Any:
        """The value of ``key`` every replica reports; fails when they disagree."""
        values = {url: report[key] for url, report in self.reports().items()}
        assert len({repr(value) for value in values.values()}) == 1, values
        return next(iter(values.values()))


def output(finished: subprocess.CompletedProcess[str]) -> str:
    return f"exit {finished.returncode}\nstdout:\n{finished.stdout}\nstderr:\n{finished.stderr}"


@contextmanager
def running_fleet(
    mlflow: MlflowServer, logs: Path, settings: Mapping[str, str], replicas: int = 2
) -> Iterator[Fleet]:
    """A fresh model (A and B on two versions) and ``replicas`` app processes with ``settings``."""
    model_name = unique_model_name("release")
    seeded = seed_variants(mlflow.url, model_name)
    env = {
        **mlflow.serving_env(),
        "MODEL_NAME": model_name,
        "RELOAD_SECRET_TOKEN": TOKEN,
        "REGISTRY_POLL_SECONDS": str(WATCHER_POLL_SECONDS),
        **settings,
    }
    with ExitStack() as stack:
        started = enter_concurrently(
            stack, [app_server(env, logs / f"replica-{index}.log") for index in range(replicas)]
        )
        yield Fleet(mlflow, model_name, seeded, started)
