"""Every helm-unittest case of charts/{fastapi,mlflow,airflow}, one pytest item each,
through bin/helm-unittest's runner."""

from __future__ import annotations

from functools import cache

import pytest

from tooling.helm_unittest.runner import CaseResult, Options, run_chart
from tooling.infra.helm import helm_binary
from tooling.model import REPO_ROOT

CHARTS = ("fastapi", "mlflow", "airflow")


@cache
def results() -> dict[str, CaseResult]:
    helm = helm_binary()
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
