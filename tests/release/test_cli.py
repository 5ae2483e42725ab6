"""``python -m tooling.release``'s usage errors (exit 2, one line) and the policy an environment gives it."""

from __future__ import annotations

import pytest

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
