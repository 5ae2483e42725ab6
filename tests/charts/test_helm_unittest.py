"""Every helm-unittest case of charts/{fastapi,mlflow,airflow}, one pytest item each,
through bin/helm-unittest's runner."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from tooling.helm_unittest.render import helm_binary
from tooling.helm_unittest.runner import CaseResult, Options, run_chart

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARTS = ("fastapi", "mlflow", "airflow")


@cache
def results() -> dict[str, CaseResult]:
    helm = helm_binary(REPO_ROOT)
    found: dict[str, CaseResult] = {}
    for chart in CHARTS:
        run = run_chart(REPO_ROOT / "charts" / chart, helm, Options())
        assert not run.error, run.error
        for result in run.results:
            found[f"{chart}/{result.suite_file.name}::{result.name}"] = result
    return found


def case_ids() -> list[str]:
    return sorted(results())


def test_every_chart_has_suites() -> None:
    assert {key.split("/")[0] for key in results()} == set(CHARTS)


@pytest.mark.parametrize("case_id", case_ids())
def test_chart_case(case_id: str) -> None:
    result = results()[case_id]
    details = [f"asserts[{f.index}] {f.kind}: {' | '.join(f.messages)}" for f in result.failures]
    assert result.verdict == "pass", f"{result.verdict}: {result.reason} {details}"
