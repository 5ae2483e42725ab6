"""The bench's pure parts: reading wrk's summary, the ratios, the targets, the table and the doc section."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from tooling.bench.report import (
    SECTION_END,
    SECTION_START,
    BenchResults,
    SwapRun,
    floor_fraction,
    p99_ratio_vs_mlflow,
    replace_section,
    results_section,
    results_table,
    rps_ratio_vs_mlflow,
    summary_line,
    swap_p99_ratio,
    targets,
)
from tooling.bench.wrk import LoadResult, WrkOutputError, parse_summary, wrk_command

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:18765/predict
  2 threads and 16 connections
  7271 requests in 3.06s, 0.99MB read
Requests/sec:   2375.52
wrk-summary {"requests": 7271, "duration_us": 3060802, "non2xx": 3, "connect_errors": 1, "read_errors": 2, \
"write_errors": 0, "timeouts": 4, "p50_us": 6368, "p99_us": 45249, "max_us": 128945}
"""


def load(rps: float, p99_ms: float, failed: int = 0) -> LoadResult:
    return LoadResult(
        requests=int(rps * 10), seconds=10.0, non2xx=failed, socket_errors=0, p50_ms=1.0, p99_ms=p99_ms
    )


def results(*, swap_failed: int = 0, swap_p99: float = 12.0) -> BenchResults:
    swapping = load(1900, swap_p99, swap_failed)
    swap = SwapRun(steady=load(2000, 10.0), swapping=swapping, reloads=30, reload_failures=0)
    ours = replace(load(2400, 20.0), server_cpu_seconds=12.0)
    v2 = load(2100, 22.0)
    return BenchResults(ours=ours, mlflow=load(200, 250.0), floor=load(3000, 8.0), swap=swap, ours_v2=v2)


def test_parse_summary_reads_counts_latencies_and_errors() -> None:
    result = parse_summary(WRK_OUTPUT)
    assert result.requests == 7271
    assert result.seconds == pytest.approx(3.060802)
    assert result.rps == pytest.approx(7271 / 3.060802)
    assert (result.p50_ms, result.p99_ms) == (6.368, 45.249)
    assert (result.non2xx, result.socket_errors, result.failed) == (3, 7, 10)


@pytest.mark.parametrize(
    "output",
    [
        "Running 3s test\nRequests/sec: 100\n",
        "wrk-summary {not json}\n",
        'wrk-summary {"requests": 1}\n',
        WRK_OUTPUT.replace('"timeouts": 4', '"timeouts": "four"'),
    ],
    ids=["no summary line", "not JSON", "fields missing", "wrong type"],
)
def test_parse_summary_rejects_output_without_a_valid_summary(output: str) -> None:
    with pytest.raises(WrkOutputError, match="wrk"):
        parse_summary(output)


def test_wrk_command_gives_every_server_the_same_load() -> None:
    command = wrk_command(
        "http://h/predict", '{"data": []}', seconds=15, connections=16, client_id="c1", max_requests=1000
    )
    assert command[:4] == ["wrk", "-t2", "-c16", "-d15s"]
    assert command[-5:] == ["http://h/predict", "--", '{"data": []}', "c1", "500"]  # the cap is per thread
    assert command[command.index("-s") + 1].endswith("post.lua")


def test_ratios() -> None:
    bench = results()
    assert rps_ratio_vs_mlflow(bench) == pytest.approx(12.0)
    assert p99_ratio_vs_mlflow(bench) == pytest.approx(0.08)
    assert floor_fraction(bench) == pytest.approx(0.8)
    assert swap_p99_ratio(bench) == pytest.approx(1.2)


def test_a_ratio_against_nothing_is_infinite_not_a_crash() -> None:
    bench = results()
    broken = BenchResults(bench.ours, load(0, 0.0), bench.floor, bench.swap, bench.ours_v2)
    assert math.isinf(rps_ratio_vs_mlflow(broken))
    assert math.isinf(p99_ratio_vs_mlflow(broken))


def test_targets_met_and_missed() -> None:
    assert all(target.met for target in targets(results()))
    missed = {target.name for target in targets(results(swap_failed=2, swap_p99=20.0)) if not target.met}
    assert missed == {"failed requests during swaps", "p99 during swaps ÷ steady p99"}


def test_summary_line_is_machine_readable() -> None:
    line = summary_line(results(swap_failed=2))
    assert line.startswith("bench: ")
    fields = dict(pair.split("=") for pair in line.removeprefix("bench: ").split())
    assert list(fields) == [
        "rps_ratio_vs_mlflow", "p99_ratio_vs_mlflow", "floor_fraction", "swap_failures", "swap_p99_ratio",
        "v2_rps_ratio_vs_mlflow",
    ]  # fmt: skip
    assert float(fields["v2_rps_ratio_vs_mlflow"]) == pytest.approx(10.5)
    assert float(fields["rps_ratio_vs_mlflow"]) == pytest.approx(12.0)
    assert int(fields["swap_failures"]) == 2


def test_table_shows_every_server_and_every_target() -> None:
    table = results_table(results())
    assert "| our app, `POST /predict` (routed, canary) | 2,400 | 1.0 | 20.0 | 0 of 24,000 | 0.50 |" in table
    assert "(floor) | 3,000 | 1.0 | 8.0 | 0 of 30,000 | - |" in table  # CPU not measured: a dash
    assert "| our app, `POST /v2/models/{name}/infer` (Open Inference v2, routed, canary) | 2,100 |" in table
    for server in ("mlflow models serve", "floor", "30 swaps"):
        assert server in table
    assert table.count("| yes |") == 5


def test_replace_section_keeps_the_prose_around_it() -> None:
    first = results_section(results(), {"date": "d1"}, "load")
    document = replace_section("# Benchmarks\n\nprose before\n", first)
    assert document.startswith("# Benchmarks\n\nprose before\n\n" + SECTION_START)
    second = results_section(results(swap_failed=1), {"date": "d2"}, "load")
    updated = replace_section(document + "\nprose after\n", second)
    assert updated.count(SECTION_START) == updated.count(SECTION_END) == 1
    assert "- date: d2" in updated
    assert "- date: d1" not in updated
    assert updated.endswith("prose after\n")
    assert "prose before" in updated
    assert json.dumps("swap_failures=1")[1:-1] in updated
