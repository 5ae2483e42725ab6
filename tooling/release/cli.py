"""``python -m tooling.release``: release a version to the serving fleet, roll the last release back, show
the release state, or conclude an A/B experiment on its verdict. The same controller the DAG runs
(``mlpipeline.release``), one line per step.

Inputs come from the environment, as the DAG's do: MLFLOW_TRACKING_URI, MODEL_NAME, SERVING_REPLICAS,
RELOAD_SECRET_TOKEN and the RELEASE_* policy; ``make`` passes MODEL_VERSION, ALIAS and ENV (as RELEASE_ENV)
the same way, never through a shell command line. With an environment (dev or prod) the policy and the model
name default to what that environment's pipeline gets (its rendered Airflow chart); variables already set
win.
Exit codes: 0 released (or nothing to do), 1 stopped and rolled back or not complete, 2 usage error;
``conclude``: 0 concluded (promoted, or rolled back when the candidate lost), 1 inconclusive or nothing could
be changed, 2 no released A/B test to conclude.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from mlpipeline.release.controller import ReleaseController
from mlpipeline.release.errors import UsageError
from mlpipeline.release.state import ALIASES
from tooling.infra.helm import HelmError
from tooling.release.environment import UnknownEnvironment, release_defaults

USAGE = 2
PROG = "python -m tooling.release"


def parse_args(argv: list[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="release a registered version (exit 0 released)")
    release.add_argument("--version", default=environ.get("MODEL_VERSION") or None, help="MODEL_VERSION")
    release.add_argument("--alias", default=environ.get("ALIAS") or None, help="ALIAS (default: strategy)")
    rollback = commands.add_parser("rollback", help="restore what the last release changed, fleet-wide")
    rollback.add_argument("--alias", default=environ.get("ALIAS") or None, help="ALIAS: only this one")
    commands.add_parser("status", help="the release state and what every replica reports")
    commands.add_parser(
        "conclude", help="end the A/B release's experiment on its verdict: promote the winner or roll back"
    )
    parser.add_argument(
        "--env", default=environ.get("RELEASE_ENV") or None, help="RELEASE_ENV: that environment's policy"
    )
    return parser.parse_args(argv)


def _usage(message: str) -> int:
    print(f"release: {message}", file=sys.stderr)
    return USAGE


def _check(args: argparse.Namespace) -> str | None:
    """The one-line usage problem with the arguments, if any."""
    alias = getattr(args, "alias", None)
    if alias is not None and alias not in ALIASES:
        return f"ALIAS={alias[:16]!r}: the serving app serves only {', '.join(ALIASES)}"
    if args.command == "release":
        if args.version is None:
            return "MODEL_VERSION is required: make release MODEL_VERSION=<registered version>"
        if not args.version.isdigit():
            return f"MODEL_VERSION={args.version[:16]!r}: a registered version is a positive integer"
    return None


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    args = parse_args(argv, environ)
    if problem := _check(args):
        return _usage(problem)
    try:
        defaults = release_defaults(args.env) if args.env else {}
    except (UnknownEnvironment, HelmError) as error:
        return _usage(f"ENV={args.env}: {error}")
    if args.command == "release" and args.alias is None and defaults.get("ALIAS"):
        args.alias = defaults["ALIAS"]
    try:
        controller = ReleaseController.from_env({**defaults, **environ}, report=print)
    except UsageError as error:
        return _usage(str(error))
    if args.command == "status":
        report = controller.status()
        for line in report.lines():
            print(line)
        return 0 if report.agree else 1
    if args.command == "release":
        return controller.release(args.version, args.alias).exit_code
    if args.command == "conclude":
        return controller.conclude().exit_code
    return controller.rollback(args.alias).exit_code
