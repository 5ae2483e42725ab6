"""``helm-unittest [flags] CHART...``: the plugin's command line, exit 0 when every case passes, else 1."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tooling.helm_unittest.report import write_report
from tooling.helm_unittest.runner import DEFAULT_TEST_FILES, Options, run_chart
from tooling.infra.helm import HelmError, helm_binary

# Plugin flags this runner does not implement: refused by name rather than ignored.
REFUSED_FLAGS = {
    "--color": "colour control",
    "--output-file": "JUnit/NUnit/XUnit/Sonar result files",
    "-o": "JUnit/NUnit/XUnit/Sonar result files",
    "--output-type": "result file formats",
    "-t": "result file formats",
    "--chart-tests-path": "suites rendered from a Helm chart",
    "--debugPlugin": "plugin debug logging",
    "-d": "plugin debug logging",
}


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="helm-unittest", description=__doc__)
    cli.add_argument("charts", nargs="+", metavar="CHART", type=Path)
    cli.add_argument(
        "-f", "--file", action="append", default=[], help=f"suite globs (default {DEFAULT_TEST_FILES[0]})"
    )
    cli.add_argument("-v", "--values", action="append", default=[], help="values files added to every suite")
    cli.add_argument(
        "-u", "--update-snapshot", action="store_true", help="write snapshots (never without it)"
    )
    cli.add_argument(
        "-s",
        "--with-subchart",
        nargs="?",
        const="true",
        default="true",
        choices=["true", "false"],
        help="run the suites of enabled subcharts (default true)",
    )
    cli.add_argument("--strict", action="store_true", help="unknown suite keys make the suite invalid")
    cli.add_argument("-q", "--failfast", action="store_true", help="stop after the first failing chart")
    cli.add_argument("--skip-schema-validation", action="store_true")
    return cli


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    for argument in arguments:
        flag = argument.split("=", 1)[0]
        if flag in REFUSED_FLAGS:
            print(
                f"helm-unittest: refused: flag {flag} ({REFUSED_FLAGS[flag]}) is not implemented",
                file=sys.stderr,
            )
            return 1
    parsed = parser().parse_args(arguments)
    options = Options(
        test_files=tuple(parsed.file) or tuple(DEFAULT_TEST_FILES),
        values_files=tuple(parsed.values),
        update_snapshots=parsed.update_snapshot,
        with_subchart=parsed.with_subchart == "true",
        strict=parsed.strict,
        failfast=parsed.failfast,
        skip_schema_validation=parsed.skip_schema_validation,
    )
    start = time.monotonic()
    try:
        helm = helm_binary()
    except HelmError as error:
        print(f"helm-unittest: {error}", file=sys.stderr)
        return 1
    runs = []
    for chart in parsed.charts:
        run = run_chart(chart, helm, options)
        runs.append(run)
        bad = run.error or any(r.verdict in ("fail", "invalid", "refused") for r in run.results)
        if bad and options.failfast:
            break
    totals = write_report(runs, sys.stdout, time.monotonic() - start, Path.cwd().resolve())
    failed = sum(totals[f"tests_{v}"] for v in ("fail", "invalid", "refused")) + totals["charts_failed"]
    return 1 if failed else 0
