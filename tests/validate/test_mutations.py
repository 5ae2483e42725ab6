"""The mutation corpus: every case, applied to a fresh copy of the repository, is flagged with its rule id.

Runs the validator in-process on the copy, with only the check family that owns the rule (rendering always
happens), so the whole corpus stays well under two minutes on two cores. A case that edits the app's settings
module runs the copy's own validator (``python -m tooling.validate`` from the copy), because a validator
judges with the settings it imports and reports any other checkout's as ``app-settings-source``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.validate.mutation import REPO, Case, apply, copy_repository, load_cases
from tooling.checks.engine import validate
from tooling.checks.rules import RULES
from tooling.checks.rules.app_contract import SOURCE_RULE, imported_settings
from tooling.infra.schemas import default_locations

CASES = load_cases()
LOCATIONS = default_locations(REPO)
LOCATION_ARGS = [arg for location in LOCATIONS for arg in ("--schema-location", location)]
SETTINGS_MODULE = str(imported_settings()[1].relative_to(REPO))


def edits_app_settings(case: Case) -> bool:
    return any(edit["file"] == SETTINGS_MODULE for edit in case.edits)


def copy_validator_findings(root: Path, check: str) -> list[str]:
    """The copy's own validator, run from the copy: findings as printed, one per line."""
    result = subprocess.run(
        [sys.executable, "-m", "tooling.validate", "--repo", str(root), "--only", check, *LOCATION_ARGS],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_mutation_is_flagged(case: Case, tmp_path: Path) -> None:
    root = copy_repository(tmp_path / "repo")
    apply(case, root)
    if edits_app_settings(case):
        findings = copy_validator_findings(root, case.check)
        flagged = {line.split(": ", 3)[2] for line in findings}
    else:
        report = validate(root, schema_locations=LOCATIONS, checks=frozenset({case.check}))
        findings, flagged = list(map(str, report.findings)), {finding.rule for finding in report.findings}
    assert case.rule in flagged, f"{case.name} ({case.why}) not flagged; got:\n" + "\n".join(findings)


def test_another_checkouts_app_settings_are_reported_not_judged(tmp_path: Path) -> None:
    root = copy_repository(tmp_path / "repo")
    settings = root / SETTINGS_MODULE
    settings.write_text(settings.read_text() + "\n# changed in this checkout\n")
    report = validate(root, schema_locations=LOCATIONS, checks=frozenset({"rules"}))
    [finding] = report.findings
    assert (finding.file, finding.rule) == (SETTINGS_MODULE, SOURCE_RULE)
    assert str(settings) in finding.reason
    assert str(imported_settings()[1]) in finding.reason


def test_corpus_covers_every_rule_and_is_large_enough() -> None:
    covered = {case.rule for case in CASES}
    assert {rule.id for rule in RULES} <= covered, sorted({rule.id for rule in RULES} - covered)
    assert len(CASES) >= 37


def test_clean_repository_has_no_findings() -> None:
    """Every check, checkov included, over the repository as it is: the baseline of every mutation."""
    report = validate(REPO, schema_locations=LOCATIONS)
    assert report.findings == [], "\n".join(map(str, report.findings))


def test_cli_prints_one_line_per_finding_and_exits_1(tmp_path: Path) -> None:
    root = copy_repository(tmp_path / "repo")
    [case] = [case for case in CASES if case.name == "mlflow-uri-prod-points-at-dev"]
    apply(case, root)
    result = subprocess.run(
        [sys.executable, "-m", "tooling.validate", "--repo", str(root), "--only", "rules", *LOCATION_ARGS],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        "charts/fastapi/templates/deployment.yaml: fastapi-prod/Deployment/fastapi-prod: mlflow-uri: "
        "container fastapi has MLFLOW_TRACKING_URI="
        "'http://mlflow-dev-service.mlflow-dev.svc.cluster.local:5000', not "
        "prod's MLflow http://mlflow-prod-service.mlflow-prod.svc.cluster.local:5000",
        "charts/fastapi/templates/deployment.yaml: fastapi-prod/Deployment/fastapi-prod: "
        "networkpolicy-egress-reaches: container fastapi calls "
        "http://mlflow-dev-service.mlflow-dev.svc.cluster.local:5000 (MLFLOW_TRACKING_URI), but no egress "
        "rule allows namespace mlflow-dev on port 5000 (http)",
    ]
    assert re.fullmatch(r"validate: 2 finding\(s\) in \d+\.\d\d s \(rules\)\n", result.stderr)
