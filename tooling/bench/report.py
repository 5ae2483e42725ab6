"""The bench's arithmetic and text: ratios, targets, the table, the machine-readable line, the document."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tooling.bench.wrk import LoadResult

SECTION_START = "<!-- bench:results:start -->"
SECTION_END = "<!-- bench:results:end -->"


@dataclass(frozen=True)
class SwapRun:
    """The same load on variant B twice: steady, then while B is reloaded every second."""

    steady: LoadResult
    swapping: LoadResult
    reloads: int
    reload_failures: int


@dataclass(frozen=True)
class BenchResults:
    ours: LoadResult
    mlflow: LoadResult
    floor: LoadResult
    swap: SwapRun
    ours_v2: LoadResult
    """Our app on the Open Inference Protocol v2: the one-row body every v2 server gets."""


@dataclass(frozen=True)
class Target:
    name: str
    value: str
    goal: str
    met: bool


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; infinite when the denominator is 0 (nothing to compare against)."""
    return numerator / denominator if denominator > 0 else math.inf


def rps_ratio_vs_mlflow(results: BenchResults) -> float:
    return ratio(results.ours.rps, results.mlflow.rps)


def p99_ratio_vs_mlflow(results: BenchResults) -> float:
    return ratio(results.ours.p99_ms, results.mlflow.p99_ms)


def v2_rps_ratio_vs_mlflow(results: BenchResults) -> float:
    return ratio(results.ours_v2.rps, results.mlflow.rps)


def floor_fraction(results: BenchResults) -> float:
    return ratio(results.ours.rps, results.floor.rps)


def swap_p99_ratio(results: BenchResults) -> float:
    return ratio(results.swap.swapping.p99_ms, results.swap.steady.p99_ms)


def targets(results: BenchResults) -> list[Target]:
    """The issue's goals, each with the value this run reached."""
    rps, p99 = rps_ratio_vs_mlflow(results), p99_ratio_vs_mlflow(results)
    floor, swap_p99 = floor_fraction(results), swap_p99_ratio(results)
    failures = results.swap.swapping.failed
    return [
        Target("our req/s ÷ mlflow models serve req/s", f"{rps:.1f}x", "≥ 10x", rps >= 10),
        Target("our p99 ÷ mlflow models serve p99", f"{p99:.3f}", "≤ 0.1", p99 <= 0.1),
        Target("our req/s ÷ bare FastAPI req/s", f"{floor:.0%}", "≥ 60 %", floor >= 0.6),
        Target("failed requests during swaps", str(failures), "0", failures == 0),
        Target("p99 during swaps ÷ steady p99", f"{swap_p99:.2f}", "≤ 1.5", swap_p99 <= 1.5),
    ]


def summary_line(results: BenchResults) -> str:
    """The last line the bench prints, for other programs and CI."""
    return (
        f"bench: rps_ratio_vs_mlflow={rps_ratio_vs_mlflow(results):.2f} "
        f"p99_ratio_vs_mlflow={p99_ratio_vs_mlflow(results):.3f} "
        f"floor_fraction={floor_fraction(results):.2f} "
        f"swap_failures={results.swap.swapping.failed} "
        f"swap_p99_ratio={swap_p99_ratio(results):.2f} "
        f"v2_rps_ratio_vs_mlflow={v2_rps_ratio_vs_mlflow(results):.2f}"
    )


def _row(name: str, result: LoadResult) -> str:
    cpu = result.cpu_ms_per_request
    return (
        f"| {name} | {result.rps:,.0f} | {result.p50_ms:.1f} | {result.p99_ms:.1f} | "
        f"{result.failed} of {result.requests:,} | {'-' if cpu is None else f'{cpu:.2f}'} |"
    )


def results_table(results: BenchResults) -> str:
    """Markdown, readable as it is in a terminal."""
    swap = results.swap
    lines = [
        "| server (1 uvicorn worker each) | req/s | p50 ms | p99 ms | failed requests | server CPU ms/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        _row("our app, `POST /predict` (routed, canary)", results.ours),
        _row("our app, `POST /v2/models/{name}/infer` (Open Inference v2, routed, canary)", results.ours_v2),
        _row("`mlflow models serve`, `POST /invocations`", results.mlflow),
        _row("bare FastAPI constant (floor)", results.floor),
        _row("our app, `POST /variant/B/predict`, steady", swap.steady),
        _row(f"our app, same, B reloaded every second ({swap.reloads} swaps)", swap.swapping),
        "",
        "| target | this run | goal | met |",
        "| --- | ---: | ---: | :---: |",
        *(f"| {t.name} | {t.value} | {t.goal} | {'yes' if t.met else 'no'} |" for t in targets(results)),
    ]
    if swap.reload_failures:
        lines.append(f"\n{swap.reload_failures} of the reloads failed (see the app's log).")
    return "\n".join(lines)


def results_section(results: BenchResults, environment: Mapping[str, str], settings: str) -> str:
    """What ``docs/benchmarks.md`` shows between its markers: where and how it ran, the table, the line."""
    described = "\n".join(f"- {key}: {value}" for key, value in environment.items())
    return "\n".join(
        [
            SECTION_START,
            "## Last run",
            "",
            described,
            f"- load: {settings}",
            "",
            results_table(results),
            "",
            "```",
            summary_line(results),
            "```",
            SECTION_END,
        ]
    )


def replace_section(document: str, section: str) -> str:
    """``document`` with its results section replaced by ``section`` (appended if it has none)."""
    pattern = re.compile(re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END), re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _: section, document, count=1)
    return document.rstrip("\n") + "\n\n" + section + "\n"


def write_doc(path: Path, section: str) -> None:
    document = path.read_text() if path.exists() else "# Benchmarks\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(document, section))
