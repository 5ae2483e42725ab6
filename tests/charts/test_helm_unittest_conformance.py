"""The runner against helm-unittest's own suites: it must reach the plugin's verdict on every case it accepts.

The corpus (``../shared/helm-unittest-conformance``, its README gives the expected verdicts) is the plugin's
``test/data/v3``: ``tests/`` cases pass, ``tests_failed/`` cases fail, ``invalidbasic`` is rejected, skipped
suites and tests are skipped, disabled subcharts' suites are not run.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from tooling.helm_unittest.runner import CaseResult, Options, run_chart
from tooling.helm_unittest.suite import _meets_minimum
from tooling.helm_unittest.yamlcompat import load_all
from tooling.infra.helm import helm_binary
from tooling.model import shared_dir

CORPUS = (shared_dir() / "helm-unittest-conformance" / "v3").resolve()  # suite paths come back resolved
SUITE_GLOBS = ("tests/**/*_test.yaml", "tests_failed/**/*_test.yaml")
# Charts the plugin's own runner tests start from; the library chart is exercised through the chart using it.
NESTED_CHARTS = ("library-chart/tests/chart",)
NOT_CHARTS = ("library-chart",)

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"conformance corpus absent: {CORPUS}")


def chart_dirs() -> list[Path]:
    top = [p for p in sorted(CORPUS.iterdir()) if (p / "Chart.yaml").is_file() and p.name not in NOT_CHARTS]
    return top + [CORPUS / nested for nested in NESTED_CHARTS]


def expected_verdicts(suite_file: Path) -> list[str]:
    """The plugin's verdict for each test of a suite file, from where it lives and what it declares."""
    relative = suite_file.relative_to(CORPUS)
    parts = relative.parts
    if parts[0] == "invalidbasic":
        return ["invalid"]
    if parts[0].startswith("with-disabled-subchart-on-") and "charts" in parts:
        return ["not run"]
    if not _found_by_chart_name(suite_file):
        return ["not run"]
    verdict = "fail" if "tests_failed" in parts else "pass"
    verdicts = []
    for suite in load_all(suite_file.read_text().replace("\t", "  ")):
        if not isinstance(suite, dict):
            continue
        skip = suite.get("skip") or {}
        minimum = skip.get("minimumVersion")
        suite_skipped = bool(skip.get("reason")) or bool(minimum and not _meets_minimum(str(minimum)))
        for test in suite.get("tests") or []:
            skipped = suite_skipped or bool((test.get("skip") or {}).get("reason"))
            verdicts.append("skipped" if skipped else verdict)
    return verdicts


def _found_by_chart_name(suite_file: Path) -> bool:
    """The plugin looks a subchart's suites up under ``charts/<its chart name>`` only."""
    directory = CORPUS
    parts = suite_file.relative_to(CORPUS).parts
    for position, part in enumerate(parts[:-1]):
        directory = directory / part
        if position > 0 and parts[position - 1] == "charts" and (directory / "Chart.yaml").is_file():
            metadata = load_all((directory / "Chart.yaml").read_text())[0] or {}
            if metadata.get("name") != part:
                return False
    return True


@cache
def corpus_results() -> tuple[Counter[str], list[str], list[str], Counter[str]]:
    """Counts, false passes, false fails and refusals by feature over the whole corpus."""
    helm = helm_binary()
    results: list[CaseResult] = []
    for chart in chart_dirs():
        results += run_chart(chart, helm, Options(test_files=SUITE_GLOBS)).results
    by_file: dict[Path, list[CaseResult]] = {}
    for result in results:
        by_file.setdefault(result.suite_file.resolve(), []).append(result)
    counts: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    false_passes, false_fails = [], []
    suite_files = sorted(
        {
            p.resolve()
            for p in CORPUS.rglob("*_test.yaml")
            if "tests" in (*p.relative_to(CORPUS).parts[1:2], "tests")
        }
    )
    for suite_file in suite_files:
        if "templates" in suite_file.relative_to(CORPUS).parts:
            continue
        expected = expected_verdicts(suite_file)
        actual = by_file.get(suite_file, [])
        if expected == ["not run"]:
            counts["not run (expected)" if not actual else "ran a disabled subchart's suite"] += 1
            continue
        if expected == ["invalid"]:
            # The plugin rejects the chart; any verdict but a pass agrees (the run fails either way).
            verdicts = {result.verdict for result in actual} or {"missing"}
            counts["invalid agreed" if "pass" not in verdicts else "invalid but pass"] += 1
            continue
        if len(actual) != len(expected):
            actual = actual + [CaseResult("", suite_file, "", "?", "missing")] * (len(expected) - len(actual))
        for want, got in zip(expected, actual, strict=False):
            counts["cases"] += 1
            counts[f"runner {got.verdict}"] += 1
            if got.verdict == "refused":
                refusals[re.sub(r"\s*\(.*", "", got.reason)] += 1
            elif got.verdict == want:
                counts["agreed"] += 1
            elif got.verdict == "pass" and want != "pass":
                false_passes.append(f"{suite_file.relative_to(CORPUS)} :: {got.name} (expected {want})")
            elif got.verdict == "fail" and want != "fail":
                false_fails.append(
                    f"{suite_file.relative_to(CORPUS)} :: {got.name} (expected {want}): {got.reason}"
                    + "".join(f" | asserts[{f.index}] {f.kind}: {f.messages[:2]}" for f in got.failures)
                )
            else:
                counts[f"other disagreement {want}->{got.verdict}"] += 1
    templated = sum(
        len(re.findall(r"^\s*- it:", p.read_text(), re.MULTILINE))
        for p in (CORPUS / "with-helm-tests" / "tests-chart" / "templates").glob("*.yaml")
    )
    counts["cases"] += templated
    counts["runner refused"] += templated
    refusals["suites rendered from a chart (--chart-tests-path)"] += templated
    return counts, false_passes, false_fails, refusals


def test_no_false_passes_and_no_false_fails() -> None:
    counts, false_passes, false_fails, refusals = corpus_results()
    accepted = counts["cases"] - counts["runner refused"]
    print(
        f"\nconformance: {counts['cases']} cases, {accepted} accepted, {counts['agreed']} agreed"
        f"; {dict(counts)}"
    )
    print("refused by feature:", dict(refusals.most_common()))
    assert not false_passes, "false passes:\n" + "\n".join(false_passes)
    assert not false_fails, "false fails:\n" + "\n".join(false_fails)
    assert counts["ran a disabled subchart's suite"] == 0
    assert not [k for k in counts if k.startswith(("other disagreement", "invalid but"))], dict(counts)


def test_most_cases_are_accepted() -> None:
    counts, _, _, refusals = corpus_results()
    accepted = counts["cases"] - counts["runner refused"]
    assert accepted >= 0.8 * counts["cases"], (
        f"accepted {accepted}/{counts['cases']}; refused: {dict(refusals)}"
    )
