"""``python -m tooling.release``'s usage errors (exit 2, one line) and the policy an environment gives it."""

from __future__ import annotations

import pytest

from mlpipeline.release.controller import ReleaseController, Report
from mlpipeline.release.policy import ReleasePolicy
from tests.pipeline.release_fakes import FakeClock, FakeFleet, FakeRegistry
from tooling.release.cli import main
from tooling.release.environment import UnknownEnvironment, release_defaults

BASE = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:1", "SERVING_REPLICAS": "http://127.0.0.1:2"}


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        (["release"], BASE, "MODEL_VERSION is required"),
        (["release"], {**BASE, "MODEL_VERSION": "latest"}, "MODEL_VERSION='latest': a registered version"),
        (["release", "--version", "3"], {**BASE, "ALIAS": "champion"}, "ALIAS='champion': the serving app"),
        (["rollback", "--alias", "C"], BASE, "ALIAS='C'"),
        (["status"], {"SERVING_REPLICAS": "http://127.0.0.1:2"}, "MLFLOW_TRACKING_URI is not set"),
        (["status"], {"MLFLOW_TRACKING_URI": "http://127.0.0.1:1"}, "SERVING_REPLICAS is not set"),
        (["status"], {**BASE, "RELEASE_STEPS": "50,25"}, "RELEASE_STEPS"),
        (["status"], {**BASE, "RELEASE_ENV": "staging"}, "ENV=staging: not an environment (dev, prod)"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str], environ: dict[str, str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, environ) == 2
    err = capsys.readouterr().err
    assert err.startswith("release: ")
    assert expected in err
    assert err.count("\n") == 1


def test_an_environment_gives_the_policy_its_pipeline_gets() -> None:
    prod = release_defaults("prod")

    assert prod["RELEASE_STEPS"] == "5,25,50,100"
    assert prod["RELEASE_MIN_REQUESTS"] == "200"
    assert prod["RELEASE_QUALITY_MARGIN"] == "0.02"
    assert prod["MODEL_NAME"] == "best_model"
    assert "ALIAS" not in prod  # prod's strategy picks the alias (blue-green: the idle colour)
    dev = release_defaults("dev")
    assert (dev["RELEASE_STEPS"], dev["RELEASE_QUALITY_MARGIN"]) == ("10,50,100", "0.05")


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(UnknownEnvironment, match="not an environment"):
        release_defaults("staging")


def test_conclude_without_a_released_ab_test_is_a_usage_error_naming_what_is_there(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The controller on fakes: the last release is a promoted canary (the registry and fleet are unit-tested).
    registry = FakeRegistry({"A": "3", "B": "5"})
    clock = FakeClock()
    fleet = FakeFleet(registry, clock, mode="canary")
    policy = ReleasePolicy(steps=(50, 100), step_seconds=10, min_requests=10)
    assert ReleaseController(registry, fleet, clock, policy, lambda _line: None).release("7").exit_code == 0
    events = list(registry.events)

    def on_fakes(_cls: type, _environ: object, report: Report, **_: object) -> ReleaseController:
        return ReleaseController(registry, fleet, clock, policy, report)

    monkeypatch.setattr(ReleaseController, "from_env", classmethod(on_fakes))

    assert main(["conclude"], BASE) == 2
    assert capsys.readouterr().out == (
        "usage: the last release r-20261123T231500Z-7 is canary promoted: nothing to conclude\n"
    )
    assert registry.events == events
