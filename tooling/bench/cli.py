"""``make bench``: our serving app vs ``mlflow models serve`` and a bare FastAPI floor; hot swap under load.

On 127.0.0.1: a real MLflow server with ``best_model`` @A and @B, then one server at a time, each with one
uvicorn worker, driven by ``wrk`` with the same load (connections, warm-up, duration) and a one-row body
each accepts:

1. our app (canary mode, ``POST /predict`` with a client id), then on the same process the hot-swap scenario:
   ``POST /variant/B/predict`` steady, then again while @B is moved between two versions and reloaded every
   second;
2. ``mlflow models serve --env-manager local`` for the version our app served;
3. a bare FastAPI endpoint returning a constant.

Prints the table, writes it with the machine, versions and date into ``docs/benchmarks.md``, and ends with one
machine-readable line. Every process it starts is stopped, also on failure and Ctrl-C. Exit status 1 when a
server cannot be benchmarked or a reload fails; the speed targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tooling.bench import report
from tooling.bench.load import Load
from tooling.bench.machine import machine_facts
from tooling.bench.scenario import run_bench
from tooling.infra.proc import stop_on_sigterm
from tooling.model import DOCS_DIR

DOC = DOCS_DIR / "benchmarks.md"


def seconds(minimum: float, maximum: float) -> Any:
    """An argparse type: a number of seconds within bounds, so the whole bench stays under 5 minutes."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value:g} s is outside {minimum:g}-{maximum:g} s")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tooling.bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--duration", type=seconds(1, 30), default=15, help="measured seconds per server")
    parser.add_argument("--warmup", type=seconds(0, 10), default=3, help="warm-up seconds per server")
    parser.add_argument(
        "--swap-seconds", type=seconds(2, 40), default=30, help="seconds of steady load, then of reloads"
    )
    parser.add_argument("--connections", type=int, choices=range(1, 257), default=16, metavar="1-256")
    parser.add_argument("--output", type=Path, default=DOC, help="markdown file to write the results into")
    parser.add_argument("--workdir", type=Path, help="keep logs and the registry here (default: temporary)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = Load(args.connections, args.warmup, args.duration, args.swap_seconds)
    token = secrets.token_urlsafe(24)  # this run's reload token; never printed
    load_average = os.getloadavg()
    started = time.monotonic()
    with stop_on_sigterm(), tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        try:
            results = run_bench(workdir, load, token)
        except KeyboardInterrupt:
            print("\nbench interrupted: every process it started has been stopped", file=sys.stderr)
            return 130
        except (RuntimeError, TimeoutError, subprocess.TimeoutExpired, httpx.HTTPError) as error:
            print(f"bench failed: {str(error).strip()}", file=sys.stderr)
            return 1
    print(f"\n{report.results_table(results)}\n")
    report.write_doc(
        args.output, report.results_section(results, machine_facts(load_average), load.describe())
    )
    elapsed = time.monotonic() - started
    print(f"written to {args.output} in {elapsed:.0f} s; every process the bench started is stopped")
    print(report.summary_line(results))
    return 1 if results.swap.reload_failures else 0
