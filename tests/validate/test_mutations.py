"""The mutation corpus: every case, applied to a fresh copy of the repository, is flagged with its rule id.

Runs the validator in-process on the copy, with only the check family that owns the rule (rendering always
happens), so the whole corpus stays well under two minutes on two cores.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.validate.rules import RULES
from scripts.validate.run import validate
from scripts.validate.schemas import default_locations
from tests.validate.mutation import REPO, Case, apply, copy_repository, load_cases

CASES = load_cases()
LOCATIONS = default_locations(REPO)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_mutation_is_flagged(case: Case, tmp_path: Path) -> None:
    root = copy_repository(tmp_path / "repo")
    apply(case, root)
    report = validate(root, schema_locations=LOCATIONS, checks=frozenset({case.check}))
    flagged = {finding.rule for finding in report.findings}
    assert case.rule in flagged, f"{case.name} ({case.why}) not flagged; got:\n" + "\n".join(
        map(str, report.findings)
    )


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
    locations = [arg for location in LOCATIONS for arg in ("--schema-location", location)]
    result = subprocess.run(
        [sys.executable, "-m", "scripts.validate", "--repo", str(root), "--only", "rules", *locations],
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
        "prod's MLflow http://mlflow-prod-service.mlflow-prod.svc.cluster.local:5000"
    ]
    assert re.fullmatch(r"validate: 1 finding\(s\) in \d+\.\d\d s \(rules\)\n", result.stderr)
