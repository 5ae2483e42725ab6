"""The whole bench for a few seconds: real MLflow, our app, ``mlflow models serve``, the floor, real wrk.

Asserts what the bench must do, never how fast anything was (the speed goals live in its output only).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tooling.bench import cli as bench
from tooling.bench.report import SECTION_END, SECTION_START

# No skip without wrk: `make test` installs it (`bin/bootstrap wrk`), so its absence is a failure.
pytestmark = pytest.mark.slow

LAST_LINE = re.compile(
    r"^bench: rps_ratio_vs_mlflow=[\d.]+ p99_ratio_vs_mlflow=[\d.]+ floor_fraction=[\d.]+ "
    r"swap_failures=(\d+) swap_p99_ratio=[\d.]+ v2_rps_ratio_vs_mlflow=[\d.]+$"
)


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


def test_a_short_bench_reports_every_server_and_stops_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "benchmarks.md"
    output.write_text("# Benchmarks\n\nprose the bench must keep\n")
    workdir = tmp_path / "work"
    children_before = child_processes()

    status = bench.main(
        ["--duration", "2", "--warmup", "1", "--swap-seconds", "3", "--output", str(output),
         "--workdir", str(workdir)]
    )  # fmt: skip

    printed = capsys.readouterr().out
    assert status == 0, printed
    last_line = printed.strip().splitlines()[-1]
    match = LAST_LINE.match(last_line)
    assert match, last_line
    assert int(match.group(1)) == 0  # no request failed while @B was swapped
    for server in ("our app", "v2", "mlflow models serve", "bare FastAPI"):
        assert server in printed
    assert re.search(r"B reloaded every second \((\d+) swaps\)", printed)
    document = output.read_text()
    assert document.startswith("# Benchmarks\n\nprose the bench must keep\n")
    assert SECTION_START in document
    assert SECTION_END in document
    assert last_line in document
    assert "machine:" in document
    assert "mlflow 3." in document
    assert child_processes() <= children_before


def test_out_of_range_durations_are_refused_up_front(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--duration", "600"])
    assert exit_info.value.code == 2
    assert "--duration: 600 s is outside 1-30 s" in capsys.readouterr().err
