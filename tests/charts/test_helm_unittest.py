"""Every helm-unittest case in charts/*/tests/*_test.yaml, one pytest item each, over a real helm render."""

from __future__ import annotations

import pytest

from tests.charts.helm_suites import Case, discover, run_case

CASES = discover()


def test_every_chart_has_suites() -> None:
    charts = {case.chart_dir.name for case in CASES}
    assert charts == {"fastapi", "mlflow", "airflow"}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_chart_case(case: Case) -> None:
    run_case(case)
