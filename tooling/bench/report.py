"""The bench's arithmetic and text: ratios, targets, the tables, the machine-readable line, the document."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tooling.bench.wrk import LoadResult

SECTION_START = "<!-- bench:results:start -->"
SECTION_END = "<!-- bench:results:end -->"
MIB = 1024 * 1024


@dataclass(frozen=True)
class SwapRun:
    """The same load on variant B twice: steady, then while B is reloaded every second."""

    steady: LoadResult
    swapping: LoadResult
    reloads: int
    reload_failures: int


@dataclass(frozen=True)
class SweepPoint:
    rows: int
    connections: int
    result: LoadResult

    @property
    def rows_per_second(self) -> float:
        return self.result.rps * self.rows


@dataclass(frozen=True)
class ServerCost:
    """How one server's cost grows with work, and what it takes to run it."""

    name: str
    by_rows: tuple[SweepPoint, ...]
    """Rows per request at the main run's connections, fewest first."""
    by_connections: tuple[SweepPoint, ...]
    """Connections at one row, fewest first; shares its one point at the main connections with ``by_rows``."""
    peak_memory_bytes: int
    startup_seconds: float
    """From spawn to ready: the model loaded and the first request answerable."""
    reload_seconds: float | None
    """Median time to load a version again while idle; ``None``: the server cannot reload."""

    def points(self) -> list[SweepPoint]:
        """Every measured point once, rows first."""
        return [*self.by_rows, *(point for point in self.by_connections if point not in self.by_rows)]


@dataclass(frozen=True)
class LivezRun:
    """``GET /livez`` probed while something else loads our app."""

    during: str
    latencies_ms: tuple[float, ...]
    failures: int

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)


@dataclass(frozen=True)
class BenchResults:
    ours: LoadResult
    """Our app, ``POST /predict``, one row: the prediction log on, as every environment runs it."""
    ours_log_off: LoadResult
    """The same with the prediction log off (another process, the same settings otherwise)."""
    ours_v2: LoadResult
    """Our app on the Open Inference Protocol v2: the one-row body every v2 server gets."""
    mlflow: LoadResult
    mlserver: LoadResult
    """MLServer, adaptive batching off, on the same v2 body."""
    mlserver_batched: LoadResult
    """MLServer, adaptive batching on."""
    floor: LoadResult
    swap: SwapRun
    livez: tuple[LivezRun, ...]
    costs: tuple[ServerCost, ...]


@dataclass(frozen=True)
class Target:
    name: str
    value: str
    goal: str
    met: bool | None
    """``None``: shown for information, not a goal."""


def percentile(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile (a value that was seen); infinite when nothing was seen."""
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def median_seconds(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.inf


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; infinite when the denominator is 0 (nothing to compare against)."""
    return numerator / denominator if denominator > 0 else math.inf


def mlserver_better(results: BenchResults) -> LoadResult:
    """MLServer's configuration with the higher req/s: the one our req/s is compared with."""
    return max(results.mlserver, results.mlserver_batched, key=lambda result: result.rps)


def mlserver_lower_p99_ms(results: BenchResults) -> float:
    return min(results.mlserver.p99_ms, results.mlserver_batched.p99_ms)


def rps_ratio_vs_mlflow(results: BenchResults) -> float:
    return ratio(results.ours.rps, results.mlflow.rps)


def p99_ratio_vs_mlflow(results: BenchResults) -> float:
    return ratio(results.ours.p99_ms, results.mlflow.p99_ms)


def rps_ratio_vs_mlserver(results: BenchResults) -> float:
    return ratio(results.ours_v2.rps, mlserver_better(results).rps)


def p99_ratio_vs_mlserver(results: BenchResults) -> float:
    return ratio(results.ours_v2.p99_ms, mlserver_lower_p99_ms(results))


def v2_rps_ratio_vs_mlflow(results: BenchResults) -> float:
    return ratio(results.ours_v2.rps, results.mlflow.rps)


def floor_fraction(results: BenchResults) -> float:
    return ratio(results.ours.rps, results.floor.rps)


def log_on_fraction(results: BenchResults) -> float:
    return ratio(results.ours.rps, results.ours_log_off.rps)


def livez_p99_ms(results: BenchResults) -> float:
    """The worst of the probes' p99s; infinite when nothing was probed."""
    return max((run.p99_ms for run in results.livez), default=math.inf)


def swap_p99_ratio(results: BenchResults) -> float:
    return ratio(results.swap.swapping.p99_ms, results.swap.steady.p99_ms)


def targets(results: BenchResults) -> list[Target]:
    """The issue's goals, each with the value this run reached; the mlflow rows are information."""
    floor, log_on = floor_fraction(results), log_on_fraction(results)
    vs_mlserver, p99_vs_mlserver = rps_ratio_vs_mlserver(results), p99_ratio_vs_mlserver(results)
    livez, swap_p99 = livez_p99_ms(results), swap_p99_ratio(results)
    rps, p99 = rps_ratio_vs_mlflow(results), p99_ratio_vs_mlflow(results)
    failures = results.swap.swapping.failed
    return [
        Target("our req/s ÷ bare FastAPI req/s", f"{floor:.0%}", "≥ 60 %", floor >= 0.6),
        Target("our v2 req/s ÷ MLServer's, its better configuration", f"{vs_mlserver:.2f}x", "≥ 2x",
               vs_mlserver >= 2),
        Target("our v2 p99 ÷ MLServer's lower p99", f"{p99_vs_mlserver:.2f}", "≤ 1", p99_vs_mlserver <= 1),
        Target("req/s with the prediction log on ÷ off", f"{log_on:.0%}", "≥ 90 %", log_on >= 0.9),
        Target("`/livez` p99, worst of: under load, big batches, swaps", f"{livez:.1f} ms", "< 10 ms",
               livez < 10),
        Target("failed requests during swaps", str(failures), "0", failures == 0),
        Target("p99 during swaps ÷ steady p99", f"{swap_p99:.2f}", "≤ 1.5", swap_p99 <= 1.5),
        Target("our req/s ÷ mlflow models serve req/s", f"{rps:.1f}x", "information (was ≥ 10x)", None),
        Target("our p99 ÷ mlflow models serve p99", f"{p99:.3f}", "information (was ≤ 0.1)", None),
    ]  # fmt: skip


def summary_line(results: BenchResults) -> str:
    """The last line the bench prints, for other programs and CI."""
    return (
        f"bench: rps_ratio_vs_mlflow={rps_ratio_vs_mlflow(results):.2f} "
        f"p99_ratio_vs_mlflow={p99_ratio_vs_mlflow(results):.3f} "
        f"rps_ratio_vs_mlserver={rps_ratio_vs_mlserver(results):.2f} "
        f"p99_ratio_vs_mlserver={p99_ratio_vs_mlserver(results):.3f} "
        f"floor_fraction={floor_fraction(results):.2f} "
        f"log_on_fraction={log_on_fraction(results):.2f} "
        f"livez_p99_ms={livez_p99_ms(results):.1f} "
        f"swap_failures={results.swap.swapping.failed} "
        f"swap_p99_ratio={swap_p99_ratio(results):.2f} "
        f"v2_rps_ratio_vs_mlflow={v2_rps_ratio_vs_mlflow(results):.2f}"
    )


def _cpu(result: LoadResult) -> str:
    cpu = result.cpu_ms_per_request
    return "-" if cpu is None else f"{cpu:.2f}"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _load_row(name: str, result: LoadResult) -> str:
    return _row(
        name, f"{result.rps:,.0f}", f"{result.p50_ms:.1f}", f"{result.p99_ms:.1f}",
        f"{result.failed} of {result.requests:,}", _cpu(result),
    )  # fmt: skip


def _sweep_row(server: str, point: SweepPoint) -> str:
    result = point.result
    return _row(
        server, str(point.rows), str(point.connections), f"{result.rps:,.0f}",
        f"{point.rows_per_second:,.0f}", f"{result.p50_ms:.1f}", f"{result.p99_ms:.1f}", str(result.failed),
        _cpu(result),
    )  # fmt: skip


def _seconds(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.2f}"


def main_table(results: BenchResults) -> list[str]:
    swap = results.swap
    return [
        "| server (1 worker each), one row, main connections | req/s | p50 ms | p99 ms | failed requests | "
        "server CPU ms/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        _load_row("our app, `POST /predict` (routed, canary, prediction log on)", results.ours),
        _load_row("our app, same, prediction log off", results.ours_log_off),
        _load_row("our app, `POST /v2/models/{name}/infer` (Open Inference v2, routed, canary)",
                  results.ours_v2),
        _load_row("`mlflow models serve`, `POST /invocations`", results.mlflow),
        _load_row("MLServer, `POST /v2/models/{name}/infer`, adaptive batching off", results.mlserver),
        _load_row("MLServer, same, adaptive batching on", results.mlserver_batched),
        _load_row("bare FastAPI constant (floor)", results.floor),
        _load_row("our app, `POST /variant/B/predict`, steady", swap.steady),
        _load_row(f"our app, same, B reloaded every second ({swap.reloads} swaps)", swap.swapping),
    ]  # fmt: skip


def cost_tables(costs: Sequence[ServerCost]) -> list[str]:
    return [
        "| server | rows/request | connections | req/s | rows/s | p50 ms | p99 ms | failed | "
        "server CPU ms/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(_sweep_row(cost.name, point) for cost in costs for point in cost.points()),
        "",
        "| server | peak memory MiB | start-up s (spawn to ready) | reload s (idle, median) |",
        "| --- | ---: | ---: | ---: |",
        *(
            _row(cost.name, f"{cost.peak_memory_bytes / MIB:,.0f}", f"{cost.startup_seconds:.1f}",
                 _seconds(cost.reload_seconds))
            for cost in costs
        ),
    ]  # fmt: skip


def livez_table(runs: Sequence[LivezRun]) -> list[str]:
    return [
        "| our app's `GET /livez`, probed during | probes | failed | p99 ms |",
        "| --- | ---: | ---: | ---: |",
        *(
            _row(run.during, str(len(run.latencies_ms)), str(run.failures), f"{run.p99_ms:.1f}")
            for run in runs
        ),
    ]


def targets_table(results: BenchResults) -> list[str]:
    met = {True: "yes", False: "no", None: "-"}
    return [
        "| target | this run | goal | met |",
        "| --- | ---: | ---: | :---: |",
        *(_row(t.name, t.value, t.goal, met[t.met]) for t in targets(results)),
    ]


def results_table(results: BenchResults) -> str:
    """Markdown, readable as it is in a terminal: the main runs, the sweeps, the probes, the targets."""
    lines = [
        *main_table(results), "", *cost_tables(results.costs), "", *livez_table(results.livez), "",
        *targets_table(results),
    ]  # fmt: skip
    if results.swap.reload_failures:
        lines.append(f"\n{results.swap.reload_failures} of the reloads failed (see the app's log).")
    return "\n".join(lines)


def results_section(
    results: BenchResults, environment: Mapping[str, str], settings: str, plot_name: str
) -> str:
    """What ``docs/benchmarks.md`` shows between its markers: where and how it ran, the tables, the plot,
    the line."""
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
            f"![req/s and p99 against connections, rows/s against rows per request]({plot_name})",
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
