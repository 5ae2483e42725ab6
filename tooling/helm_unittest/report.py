"""A report shaped like the plugin's: a chart header, PASS/FAIL per suite, failing assertions, totals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from tooling.helm_unittest.runner import CaseResult, ChartRun

LABELS = {"pass": "PASS", "fail": "FAIL", "skipped": "SKIP", "refused": "REFUSED", "invalid": "ERROR"}


def suite_verdict(results: list[CaseResult]) -> str:
    verdicts = {result.verdict for result in results}
    for verdict in ("invalid", "fail", "refused"):
        if verdict in verdicts:
            return verdict
    return "skipped" if verdicts == {"skipped"} else "pass"


def write_report(
    runs: Iterable[CaseResult | ChartRun], out: TextIO, elapsed: float, root: Path
) -> Counter[str]:
    totals: Counter[str] = Counter()
    for run in runs:
        if not isinstance(run, ChartRun):
            continue
        if run.error:
            out.write(f"\n### Error: {run.error}\n")
            totals["charts_failed"] += 1
            continue
        out.write(f"\n### Chart [ {run.chart_name} ] {_shown(run.chart_dir, root)}\n\n")
        by_suite: dict[tuple[Path, str], list[CaseResult]] = {}
        for result in run.results:
            by_suite.setdefault((result.suite_file, result.suite_name), []).append(result)
        chart_ok = True
        for (suite_file, suite_name), results in by_suite.items():
            verdict = suite_verdict(results)
            chart_ok = chart_ok and verdict in ("pass", "skipped")
            totals[f"suites_{verdict}"] += 1
            out.write(f" {LABELS[verdict]:<7} {suite_name}\t{_shown(suite_file, root)}\n")
            for result in results:
                totals[f"tests_{result.verdict}"] += 1
                _write_case(result, out)
        totals["charts_passed" if chart_ok else "charts_failed"] += 1
        totals["snapshots_failed"] += sum(f.failed for f in run.snapshot_files)
        totals["snapshots_inserted"] += sum(f.inserted for f in run.snapshot_files)
    out.write("\n" + summary(totals, elapsed) + "\n")
    return totals


def _write_case(result: CaseResult, out: TextIO) -> None:
    if result.verdict == "skipped":
        out.write(f"\t- SKIPPED '{result.name}': {result.reason}\n")
    elif result.verdict in ("refused", "invalid"):
        out.write(f"\t- {LABELS[result.verdict]} '{result.name}': {result.reason}\n")
    elif result.verdict == "fail":
        out.write(f"\t- {result.name}\n")
        if result.reason:
            out.write(f"\t\tError: {result.reason}\n")
        for failure in result.failures:
            negation = " NOT" if failure.negated else ""
            out.write(f"\n\t\t- asserts[{failure.index}]{negation} `{failure.kind}` fail\n")
            for message in failure.messages:
                for line in message.splitlines():
                    out.write(f"\t\t\t{line}\n")
        out.write("\n")


def summary(totals: Counter[str], elapsed: float) -> str:
    def line(prefix: str, names: tuple[str, ...]) -> str:
        parts = [f"{totals[f'{prefix}_{name}']} {name}" for name in names if totals[f"{prefix}_{name}"]]
        total = sum(totals[f"{prefix}_{name}"] for name in names)
        return ", ".join([*parts, f"{total} total"])

    verdicts = ("fail", "invalid", "refused", "pass", "skipped")
    return "\n".join(
        [
            f"Charts:      {line('charts', ('failed', 'passed'))}",
            f"Test Suites: {line('suites', verdicts)}",
            f"Tests:       {line('tests', verdicts)}",
            f"Snapshot:    {totals['snapshots_failed']} failed, {totals['snapshots_inserted']} new"
            " (not stored without -u)",
            f"Time:        {elapsed:.2f}s",
        ]
    )


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)
