"""The bench's pure parts: wrk's summary, bodies, ratios, targets, the tables, the doc section, the plot."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from tooling.bench.bodies import ROW, mlflow_body, our_body, v2_body
from tooling.bench.cli import DEFAULT, QUICK, load_from, parse_args
from tooling.bench.plot import write_plot
from tooling.bench.report import (
    SECTION_END,
    SECTION_START,
    BenchResults,
    LivezRun,
    ServerCost,
    SwapRun,
    SweepPoint,
    floor_fraction,
    livez_p99_ms,
    log_on_fraction,
    p99_ratio_vs_mlflow,
    p99_ratio_vs_mlserver,
    percentile,
    replace_section,
    results_section,
    results_table,
    rps_ratio_vs_mlflow,
    rps_ratio_vs_mlserver,
    summary_line,
    swap_p99_ratio,
    targets,
)
from tooling.bench.servers import mlserver_model_settings, mlserver_settings
from tooling.bench.wrk import LoadResult, WrkOutputError, parse_summary, wrk_command

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:18765/predict
  2 threads and 16 connections
  7271 requests in 3.06s, 0.99MB read
Requests/sec:   2375.52
wrk-summary {"requests": 7271, "duration_us": 3060802, "non2xx": 3, "connect_errors": 1, "read_errors": 2, \
"write_errors": 0, "timeouts": 4, "p50_us": 6368, "p99_us": 45249, "max_us": 128945}
"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load(rps: float, p99_ms: float, failed: int = 0) -> LoadResult:
    return LoadResult(
        requests=int(rps * 10), seconds=10.0, non2xx=failed, socket_errors=0, p50_ms=1.0, p99_ms=p99_ms
    )


def cost(name: str, rps: float) -> ServerCost:
    """A server whose req/s halves with each step of either sweep."""
    by_rows = tuple(SweepPoint(rows, 16, load(rps / 2**step, 10.0)) for step, rows in enumerate((1, 10, 100)))
    by_connections = (SweepPoint(1, 1, load(rps / 2, 2.0)), by_rows[0], SweepPoint(1, 64, load(rps, 40.0)))
    reload_seconds = None if "mlflow" in name else 0.3
    return ServerCost(name, by_rows, by_connections, 300 * 1024 * 1024, 7.25, reload_seconds)


def results(
    *, swap_failed: int = 0, swap_p99: float = 12.0, log_off_rps: float = 2500, livez_ms: float = 4.0
) -> BenchResults:
    swapping = load(1900, swap_p99, swap_failed)
    swap = SwapRun(steady=load(2000, 10.0), swapping=swapping, reloads=30, reload_failures=0)
    livez = (
        LivezRun("steady", (1.0, 2.0, 3.0), 0),
        LivezRun("big batches", (1.0, livez_ms), 0),
        LivezRun("swaps", (2.0,), 1),
    )
    return BenchResults(
        ours=replace(load(2400, 20.0), server_cpu_seconds=12.0), ours_log_off=load(log_off_rps, 18.0),
        ours_v2=load(2100, 22.0), mlflow=load(200, 250.0), mlserver=load(1000, 30.0),
        mlserver_batched=load(700, 25.0), floor=load(3000, 8.0), swap=swap, livez=livez,
        costs=(cost("our app (v2)", 2100), cost("mlflow models serve", 200), cost("MLServer", 1000)),
    )  # fmt: skip


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


@pytest.mark.parametrize("rows", [1, 10, 1000])
def test_bodies_carry_n_rows_in_each_protocol(rows: int) -> None:
    assert json.loads(our_body(rows)) == {"data": [ROW] * rows}
    assert json.loads(mlflow_body(rows)) == {"inputs": [ROW] * rows}
    [tensor] = json.loads(v2_body(rows))["inputs"]
    assert tensor["shape"] == [rows, 4]
    assert tensor["datatype"] == "FP64"
    assert tensor["data"] == ROW * rows  # flat, row-major


def test_a_body_without_rows_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        v2_body(0)


def test_mlserver_runs_as_one_process_on_loopback_and_batches_only_when_asked() -> None:
    settings = mlserver_settings(8080, 8081, 8082)
    assert settings["parallel_workers"] == 0
    assert settings["host"] == "127.0.0.1"
    assert (settings["http_port"], settings["grpc_port"], settings["metrics_port"]) == (8080, 8081, 8082)
    plain = mlserver_model_settings("m", "models:/m/3", batching=False)
    assert plain == {
        "name": "m", "implementation": "mlserver_mlflow.MLflowRuntime", "parameters": {"uri": "models:/m/3"}
    }  # fmt: skip
    batched = mlserver_model_settings("m", "models:/m/3", batching=True)
    assert batched["max_batch_size"] > 1
    assert 0 < batched["max_batch_time"] < 0.1


def test_the_sweeps_share_the_main_point_and_quick_keeps_the_biggest_batch() -> None:
    default = load_from(parse_args([]))
    assert default.sweep_rows == DEFAULT.sweep_rows == (1, 10, 100, 1000)
    assert default.sweep_connections == (1, 16, 64, 256)
    quick = load_from(parse_args(["--quick", "--connections", "8"]))
    assert quick.duration == QUICK.duration == 1
    assert 1 in quick.sweep_rows
    assert quick.biggest_batch == 1000  # the /livez probe during big batches needs it
    assert 8 in quick.sweep_connections
    assert load_from(parse_args(["--quick", "--duration", "3"])).duration == 3  # an option beats the profile


def test_ratios() -> None:
    bench = results()
    assert rps_ratio_vs_mlflow(bench) == pytest.approx(12.0)
    assert p99_ratio_vs_mlflow(bench) == pytest.approx(0.08)
    assert floor_fraction(bench) == pytest.approx(0.8)
    assert swap_p99_ratio(bench) == pytest.approx(1.2)
    assert log_on_fraction(bench) == pytest.approx(2400 / 2500)


def test_mlserver_is_compared_by_its_faster_config_for_rps_and_its_lower_p99() -> None:
    bench = results()  # batching off: 1000 req/s, p99 30 ms; on: 700 req/s, p99 25 ms
    assert rps_ratio_vs_mlserver(bench) == pytest.approx(2100 / 1000)
    assert p99_ratio_vs_mlserver(bench) == pytest.approx(22 / 25)
    flipped = replace(bench, mlserver=bench.mlserver_batched, mlserver_batched=bench.mlserver)
    assert rps_ratio_vs_mlserver(flipped) == rps_ratio_vs_mlserver(bench)


def test_livez_p99_is_the_worst_probe() -> None:
    assert livez_p99_ms(results(livez_ms=40.0)) == 40.0
    assert livez_p99_ms(results(livez_ms=1.5)) == 3.0  # the steady run's p99 of 1, 2, 3 ms
    assert math.isinf(livez_p99_ms(replace(results(), livez=())))


def test_percentile_is_a_seen_value() -> None:
    samples = [float(value) for value in range(1, 101)]
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 50) == 50.0
    assert percentile([7.0], 99) == 7.0
    assert math.isinf(percentile([], 99))


def test_a_ratio_against_nothing_is_infinite_not_a_crash() -> None:
    broken = replace(results(), mlflow=load(0, 0.0))
    assert math.isinf(rps_ratio_vs_mlflow(broken))
    assert math.isinf(p99_ratio_vs_mlflow(broken))


def test_targets_met_and_missed() -> None:
    goals = [target for target in targets(results()) if target.met is not None]
    assert len(goals) == 7
    assert all(target.met for target in goals)
    missed = {
        target.name
        for target in targets(results(swap_failed=2, swap_p99=20.0, log_off_rps=3000, livez_ms=12.0))
        if target.met is False
    }
    assert missed == {
        "failed requests during swaps",
        "p99 during swaps ÷ steady p99",
        "req/s with the prediction log on ÷ off",
        "`/livez` p99, worst of: under load, big batches, swaps",
    }


def test_the_mlflow_rows_are_information_not_goals() -> None:
    information = {target.name for target in targets(results()) if target.met is None}
    assert information == {"our req/s ÷ mlflow models serve req/s", "our p99 ÷ mlflow models serve p99"}


def test_summary_line_is_machine_readable() -> None:
    line = summary_line(results(swap_failed=2))
    assert line.startswith("bench: ")
    fields = dict(pair.split("=") for pair in line.removeprefix("bench: ").split())
    assert list(fields) == [
        "rps_ratio_vs_mlflow", "p99_ratio_vs_mlflow", "rps_ratio_vs_mlserver", "p99_ratio_vs_mlserver",
        "floor_fraction", "log_on_fraction", "livez_p99_ms", "swap_failures", "swap_p99_ratio",
        "v2_rps_ratio_vs_mlflow",
    ]  # fmt: skip
    assert float(fields["rps_ratio_vs_mlserver"]) == pytest.approx(2.1)
    assert float(fields["p99_ratio_vs_mlserver"]) == pytest.approx(0.88)
    assert float(fields["livez_p99_ms"]) == pytest.approx(4.0)
    assert float(fields["log_on_fraction"]) == pytest.approx(0.96)
    assert float(fields["v2_rps_ratio_vs_mlflow"]) == pytest.approx(10.5)
    assert int(fields["swap_failures"]) == 2


def test_table_shows_every_server_every_point_and_every_target() -> None:
    table = results_table(results())
    assert "| our app, `POST /predict` (routed, canary, prediction log on) | 2,400 | 1.0 | 20.0 | 0 of 24,000 | 0.50 |" in table  # fmt: skip # noqa: E501
    assert "(floor) | 3,000 | 1.0 | 8.0 | 0 of 30,000 | - |" in table  # CPU not measured: a dash
    for server in ("prediction log off", "mlflow models serve", "batching off", "batching on", "30 swaps"):
        assert server in table
    # 100 rows at 16 connections: a quarter of 1,000 req/s is 250 req/s, 25,000 rows/s
    assert "| MLServer | 100 | 16 | 250 | 25,000 | 1.0 | 10.0 | 0 | - |" in table
    assert table.count("| MLServer | 1 | 16 |") == 1  # the shared point is listed once
    assert "| MLServer | 300 | 7.2 | 0.30 |" in table
    assert "| mlflow models serve | 300 | 7.2 | not measured |" in table
    assert "| swaps | 1 | 1 | 2.0 |" in table
    assert table.count("| yes |") == 7
    assert "| 12.0x | information (was ≥ 10x) | - |" in table  # information: neither met nor missed
    assert table.count("| information (was") == 2


def test_replace_section_keeps_the_prose_around_it() -> None:
    first = results_section(results(), {"date": "d1"}, "load", "benchmarks.png")
    document = replace_section("# Benchmarks\n\nprose before\n", first)
    assert document.startswith("# Benchmarks\n\nprose before\n\n" + SECTION_START)
    assert "](benchmarks.png)" in document
    second = results_section(results(swap_failed=1), {"date": "d2"}, "load", "benchmarks.png")
    updated = replace_section(document + "\nprose after\n", second)
    assert updated.count(SECTION_START) == updated.count(SECTION_END) == 1
    assert "- date: d2" in updated
    assert "- date: d1" not in updated
    assert updated.endswith("prose after\n")
    assert "prose before" in updated
    assert json.dumps("swap_failures=1")[1:-1] in updated


def test_the_plot_is_a_png_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "benchmarks.png"
    write_plot(results().costs, path)
    content = path.read_bytes()
    assert content.startswith(PNG_SIGNATURE)
    assert len(content) > 10_000  # three panels with lines, not an empty canvas
