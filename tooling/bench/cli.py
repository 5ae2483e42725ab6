"""``make bench``: our serving app vs ``mlflow models serve``, MLServer and a bare FastAPI floor; hot swap.

On 127.0.0.1: a real MLflow server with ``best_model`` @A and @B, then one server at a time, each a single
process (one uvicorn worker; MLServer without inference workers), driven by ``wrk`` with the same load
(connections, warm-up, duration) and a one-row body each accepts:

1. our app (canary mode, prediction log on): ``POST /predict`` with a client id, then v2
   (``POST /v2/models/{name}/infer``) and its sweeps (rows per request, connections), idle reloads, then on
   the same process the hot-swap scenario: ``POST /variant/B/predict`` steady, then again while @B is moved
   between two versions and reloaded every second; ``GET /livez`` is probed during the steady run, the
   biggest batches and the swaps;
2. our app again with the prediction log off, ``POST /predict``;
3. ``mlflow models serve --env-manager local`` for the version our app served, and its sweeps;
4. MLServer with its MLflow runtime, the same version from the same registry, adaptive batching off and on,
   and the sweeps of the faster of the two;
5. a bare FastAPI endpoint returning a constant.

Prints the tables, writes them with the machine, versions and date into ``docs/benchmarks.md`` and a plot
beside it (``docs/benchmarks.png``), and ends with one machine-readable line. Every process it starts is
stopped, also on failure and Ctrl-C. Exit status 1 when a server cannot be benchmarked or a reload fails;
the speed targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from tooling.bench import report
from tooling.bench.load import Load
from tooling.bench.machine import machine_facts
from tooling.bench.plot import write_plot
from tooling.bench.scenario import run_bench
from tooling.infra.proc import stop_on_sigterm
from tooling.model import DOCS_DIR

DOC = DOCS_DIR / "benchmarks.md"


DEFAULT = Load(
    connections=16, warmup=2, duration=8, swap_seconds=15, sweep_warmup=1, sweep_seconds=3,
    sweep_rows=(1, 10, 100, 1000), sweep_connections=(1, 16, 64, 256),
)  # fmt: skip
"""About 4-5 minutes on a 2-core machine: a third of it is starting the registry and the five servers."""
QUICK = Load(
    connections=16, warmup=0, duration=1, swap_seconds=2, sweep_warmup=0, sweep_seconds=1,
    sweep_rows=(1, 1000), sweep_connections=(16, 256),
)  # fmt: skip
"""Every server and every number, each run 1 s (wrk's least) and two points per sweep: a smoke test whose
numbers are not worth comparing; the fixed cost of starting the registry and the servers dominates it."""

OPEN_FILES_PER_CONNECTION = 2  # the client's socket (wrk) and the server's, both children of this process
OPEN_FILES_MARGIN = 256  # the servers' own files, libraries and the registry's connections


def seconds(minimum: float, maximum: float) -> Any:
    """An argparse type: a number of seconds within bounds, so the whole bench stays bounded."""

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
    parser.add_argument(
        "--quick", action="store_true", help="1 s runs and two points per sweep (well under 2 minutes)"
    )
    parser.add_argument("--duration", type=seconds(1, 15), help="measured seconds of each main run")
    parser.add_argument("--warmup", type=seconds(0, 5), help="warm-up seconds before each main run")
    parser.add_argument("--swap-seconds", type=seconds(2, 20), help="seconds of steady load, then of reloads")
    parser.add_argument("--sweep-seconds", type=seconds(1, 5), help="measured seconds per sweep point")
    parser.add_argument("--connections", type=int, choices=range(1, 257), default=16, metavar="1-256")
    parser.add_argument("--output", type=Path, default=DOC, help="markdown file to write the results into")
    parser.add_argument("--workdir", type=Path, help="keep logs and the registry here (default: temporary)")
    return parser.parse_args(argv)


def load_from(args: argparse.Namespace) -> Load:
    """The profile's load, with any duration given on the command line instead of the profile's; the main
    connections are always a point of the connections sweep (the sweeps' shared point)."""
    profile = QUICK if args.quick else DEFAULT

    def chosen(value: float | None, default: float) -> float:
        return default if value is None else value

    return replace(
        profile,
        connections=args.connections,
        warmup=chosen(args.warmup, profile.warmup),
        duration=chosen(args.duration, profile.duration),
        swap_seconds=chosen(args.swap_seconds, profile.swap_seconds),
        sweep_seconds=chosen(args.sweep_seconds, profile.sweep_seconds),
        sweep_connections=tuple(sorted({*profile.sweep_connections, args.connections})),
    )


def allow_open_files(connections: int) -> None:
    """Raise this process's soft open-files limit (the servers and wrk inherit it) to what the most
    connections need, within the hard limit."""
    needed = OPEN_FILES_PER_CONNECTION * connections + OPEN_FILES_MARGIN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise RuntimeError(f"{connections} connections need {needed} open files; the hard limit: {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load = load_from(args)
    token = secrets.token_urlsafe(24)  # this run's reload token; never printed
    load_average = os.getloadavg()
    started = time.monotonic()
    with stop_on_sigterm(), tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        workdir = args.workdir or Path(scratch)
        try:
            allow_open_files(max(load.sweep_connections))
            results = run_bench(workdir, load, token)
        except KeyboardInterrupt:
            print("\nbench interrupted: every process it started has been stopped", file=sys.stderr)
            return 130
        except (RuntimeError, TimeoutError, subprocess.TimeoutExpired, httpx.HTTPError) as error:
            print(f"bench failed: {str(error).strip()}", file=sys.stderr)
            return 1
    print(f"\n{report.results_table(results)}\n")
    plot = args.output.with_suffix(".png")
    write_plot(results.costs, plot)
    report.write_doc(
        args.output,
        report.results_section(results, machine_facts(load_average), load.describe(), plot.name),
    )
    elapsed = time.monotonic() - started
    print(f"written to {args.output} and {plot} in {elapsed:.0f} s; every process it started is stopped")
    print(report.summary_line(results))
    return 1 if results.swap.reload_failures else 0
