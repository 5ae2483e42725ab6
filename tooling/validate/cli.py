"""``python -m tooling.validate``: exit 0 when clean, 1 with findings, 2 on a usage error."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tooling.checks.engine import CHECKS, validate
from tooling.checks.rules import RULES
from tooling.infra.helm import HelmError, helm_binary
from tooling.infra.schemas import bundled_schema_problem, location_problem
from tooling.model import CHARTS, KUBE_VERSION, REPO_ROOT

LOCATION_HELP = (
    "a schema path template, repeatable, tried in order (kubeconform's -schema-location); placeholders: "
    "{kind} (lower case), {group}, {version}, {api} (apps-v1 / v1), {kube_version}, {repo}; default: the "
    "bundled strict schemas of kubernetes-validate, then "
    "{repo}/../shared/crd-schemas/{group}/{kind}_{version}.json"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tooling.validate", description=__doc__)
    parser.add_argument(
        "--repo", type=Path, default=REPO_ROOT, help="checkout to validate (default: this one)"
    )
    parser.add_argument("--kube-version", default=KUBE_VERSION, help=f"default {KUBE_VERSION}")
    parser.add_argument("--schema-location", action="append", metavar="TEMPLATE", help=LOCATION_HELP)
    parser.add_argument("--skip-checkov", action="store_true", help="leave out the slowest check")
    parser.add_argument("--only", action="append", choices=CHECKS, help="run only these checks (repeatable)")
    parser.add_argument("--list-rules", action="store_true", help="print the repository's own rules and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_rules:
        for rule in RULES:
            print(f"{rule.id}: {rule.reason}")
        return 0
    if not (args.repo / CHARTS).is_dir():
        print(f"validate: {args.repo}: not a checkout of this repository (no {CHARTS}/)", file=sys.stderr)
        return 2
    try:
        helm_binary()
    except HelmError as error:
        print(f"validate: {error}", file=sys.stderr)
        return 2
    locations = [location.replace("{repo}", str(args.repo)) for location in args.schema_location or []]
    for location in locations:
        if problem := location_problem(location):
            print(f"validate: --schema-location {location}: {problem}", file=sys.stderr)
            return 2
    if not locations and (problem := bundled_schema_problem(args.kube_version)):
        print(f"validate: --kube-version {args.kube_version}: {problem}", file=sys.stderr)
        return 2
    checks = set(args.only or CHECKS) - ({"checkov"} if args.skip_checkov else set())
    report = validate(args.repo, args.kube_version, locations or None, frozenset(checks))
    for finding in report.findings:
        print(finding)
    verdict = f"{len(report.findings)} finding(s)" if report.findings else "clean"
    print(f"validate: {verdict} in {report.seconds:.2f} s ({', '.join(sorted(checks))})", file=sys.stderr)
    return 1 if report.findings else 0
