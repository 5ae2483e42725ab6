"""The whole bench in its --quick form: real MLflow, our app (log on and off), ``mlflow models serve``,
MLServer, the floor, real wrk.

Asserts what the bench must do, never how fast anything was (the speed goals live in its output only).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tooling.bench import cli as bench
from tooling.bench.report import SECTION_END, SECTION_START

# No skip without wrk or MLServer: `make test` installs both (`bin/bootstrap wrk mlserver`), so their
# absence is a failure.
pytestmark = pytest.mark.slow

NUMBER = r"[\d.]+"
LAST_LINE = re.compile(
    rf"^bench: rps_ratio_vs_mlflow={NUMBER} p99_ratio_vs_mlflow={NUMBER} rps_ratio_vs_mlserver={NUMBER} "
    rf"p99_ratio_vs_mlserver={NUMBER} floor_fraction={NUMBER} log_on_fraction={NUMBER} "
    rf"livez_p99_ms={NUMBER} swap_failures=(\d+) swap_p99_ratio={NUMBER} v2_rps_ratio_vs_mlflow={NUMBER}$"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def child_processes() -> set[int]:
    """Live (not zombie) processes whose parent is this test process: every server the bench starts."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, parent = fields[0], int(fields[1])
        if parent == os.getpid() and state != "Z":
            children.add(int(stat.parent.name))
    return children


def test_a_quick_bench_reports_every_server_and_stops_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\nprose the bench must keep\n")
    workdir = tmp_path / "work"
    children_before = child_processes()

    status = bench.main(["--quick", "--output", str(output), "--workdir", str(workdir)])

    printed = capsys.readouterr().out
    assert status == 0, printed
    last_line = printed.strip().splitlines()[-1]
    match = LAST_LINE.match(last_line)
    assert match, last_line
    assert int(match.group(1)) == 0  # no request failed while @B was swapped
    for server in ("our app", "v2", "prediction log off", "mlflow models serve", "MLServer", "bare FastAPI"):
        assert server in printed
    # Both MLServer models answered the one-row v2 body with our app's prediction before being measured.
    assert "MLServer best_model v1: same prediction as ours" in printed
    assert "MLServer best_model-batched v1: same prediction as ours" in printed
    assert "adaptive batching off" in printed
    assert "adaptive batching on" in printed
    assert re.search(r"B reloaded every second \((\d+) swaps\)", printed)
    for rows, connections in ((1000, 16), (1, 256)):  # a point of each sweep, for every swept server
        for server in ("our app (v2)", "mlflow models serve", "MLServer (batching"):
            assert re.search(rf"^\| {re.escape(server)}[^|]* \| {rows} \| {connections} \| ", printed, re.M)
    assert re.search(r"^\| MLServer \(batching o(n|ff)\) \| \d[\d,]* \| [\d.]+ \| [\d.]+ \|$", printed, re.M)
    document = output.read_text()
    assert document.startswith("# Benchmarks\n\nprose the bench must keep\n")
    assert SECTION_START in document
    assert SECTION_END in document
    assert last_line in document
    assert "machine:" in document
    assert "mlflow 3." in document
    assert "](benchmarks.png)" in document
    assert (tmp_path / "benchmarks.png").read_bytes().startswith(PNG_SIGNATURE)
    assert child_processes() <= children_before


def test_out_of_range_durations_are_refused_up_front(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--duration", "600"])
    assert exit_info.value.code == 2
    assert "--duration: 600 s is outside 1-15 s" in capsys.readouterr().err
