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
import itertools
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from scripts.benchmarking import report
from scripts.benchmarking.report import BenchResults, SwapRun
from scripts.benchmarking.wrk import LoadResult, WrkOutputError, parse_summary, wrk_command
from scripts.demo import MODES, stop_on_sigterm
from scripts.localstack import (
    REPO_ROOT,
    ServerProcess,
    app_server,
    free_port,
    mlflow_server,
    running,
    venv_bin,
)
from scripts.registry_seed import point_alias, seed_variants

MODEL_NAME = "best_model"
ROW = [5.1, 3.5, 1.4, 0.2]
CLIENT_ID = "bench-client"
OUR_BODY = json.dumps({"data": [ROW]})
MLFLOW_BODY = json.dumps({"inputs": [ROW]})  # the model's signature is a tensor spec: the "inputs" format
DOC = REPO_ROOT / "docs" / "benchmarks.md"
FLOOR_DIR = Path(__file__).resolve().parent / "benchmarking"


class BenchError(RuntimeError):
    """A server could not be benchmarked; the message is one line."""


def one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


@dataclass(frozen=True)
class Load:
    connections: int
    warmup: float
    duration: float
    swap_seconds: float

    def describe(self) -> str:
        return (
            f"wrk, {self.connections} connections, {self.warmup:g} s warm-up then {self.duration:g} s "
            f"per server; hot swap: {self.swap_seconds:g} s steady, then {self.swap_seconds:g} s "
            "reloading @B every second"
        )


def run_wrk(url: str, body: str, seconds: float, load: Load, client_id: str = "") -> LoadResult:
    command = wrk_command(url, body, seconds=seconds, connections=load.connections, client_id=client_id)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed against {url}: {one_line(done.stderr or done.stdout)}")
    try:
        return parse_summary(done.stdout)
    except WrkOutputError as error:
        raise BenchError(f"wrk against {url}: {error}") from None


def group_cpu_seconds(leader: int) -> float:
    """CPU seconds used so far by the live processes of ``leader``'s process group (a server and its workers).

    Less sensitive to other load on the machine than req/s, so it shows what a request costs the server.
    """
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == leader:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(server: ServerProcess, path: str, body: str, load: Load, client_id: str = "") -> LoadResult:
    """Warm up, then measure: the same for every server."""
    url = server.url + path
    if load.warmup > 0:
        run_wrk(url, body, load.warmup, load, client_id)
    cpu_before = group_cpu_seconds(server.process.pid)
    result = run_wrk(url, body, load.duration, load, client_id)
    return replace(result, server_cpu_seconds=group_cpu_seconds(server.process.pid) - cpu_before)


def check_reply(server: ServerProcess, path: str, body: str, client_id: str = "") -> httpx.Response:
    """One request before the load: the server accepts the body (else the bench would measure errors)."""
    headers = {"content-type": "application/json"} | ({"x-client-id": client_id} if client_id else {})
    reply = httpx.post(server.url + path, content=body, headers=headers, timeout=30)
    if reply.status_code != 200:
        raise BenchError(
            f"{server.name} answered {path} with HTTP {reply.status_code}: {one_line(reply.text)}"
        )
    return reply


def reload_b_every_second(
    app: ServerProcess, mlflow_url: str, token: str, versions: list[str], wrk: subprocess.Popen[str]
) -> tuple[int, int]:
    """Move @B between ``versions`` and reload it once a second while ``wrk`` runs: (reloads, failures)."""
    reloads = failures = 0
    next_tick = time.monotonic()
    with httpx.Client(base_url=app.url, headers={"x-token": token}, timeout=30) as client:
        for version in itertools.cycle(versions):
            if wrk.poll() is not None:
                break
            point_alias(mlflow_url, MODEL_NAME, "B", version)
            reply = client.post("/variant/B/reload")
            reloads += 1
            if reply.status_code != 200 or reply.json().get("version") != version:
                failures += 1
                print(f"  reload of @B to v{version}: HTTP {reply.status_code} {one_line(reply.text)}")
            next_tick += 1.0
            time.sleep(max(0.0, next_tick - time.monotonic()))
    return reloads, failures


def hot_swap_run(
    app: ServerProcess, mlflow_url: str, token: str, versions: dict[str, str], load: Load
) -> SwapRun:
    url = f"{app.url}/variant/B/predict"
    cpu_before = group_cpu_seconds(app.process.pid)
    steady = run_wrk(url, OUR_BODY, load.swap_seconds, load)
    steady = replace(steady, server_cpu_seconds=group_cpu_seconds(app.process.pid) - cpu_before)
    alternating = [versions["A"], versions["B"]]  # @B starts on versions["B"]: the first reload moves it
    command = wrk_command(url, OUR_BODY, seconds=load.swap_seconds, connections=load.connections)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as wrk:
        try:
            reloads, failures = reload_b_every_second(app, mlflow_url, token, alternating, wrk)
            output, errors = wrk.communicate(timeout=60)
        finally:
            if wrk.poll() is None:
                wrk.kill()
    if wrk.returncode != 0:
        raise BenchError(f"wrk failed against {url}: {one_line(errors)}")
    return SwapRun(steady, parse_summary(output), reloads, failures)


@contextmanager
def mlflow_models_serve(mlflow_url: str, version: str, log_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    command = [
        venv_bin("mlflow"), "models", "serve", "-m", f"models:/{MODEL_NAME}/{version}",
        "--env-manager", "local", "--workers", "1", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    # It starts ``uvicorn`` by name: the project's venv must come first on PATH.
    path = f"{Path(venv_bin('uvicorn')).parent}{os.pathsep}{os.environ['PATH']}"
    env = {"MLFLOW_TRACKING_URI": mlflow_url, "PATH": path}
    with running(
        "mlflow models serve", command, port=port, ready_path="/ping", log_path=log_path, env=env
    ) as server:
        yield server


@contextmanager
def floor_server(log_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    command = [
        venv_bin("uvicorn"), "floor_app:app", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    with running(
        "bare FastAPI", command, port=port, ready_path="/livez", log_path=log_path, cwd=FLOOR_DIR
    ) as floor:
        yield floor


def predictions_agree(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    return bool(ours.get("prediction") == theirs.get("predictions"))


def run_bench(workdir: Path, load: Load, token: str) -> BenchResults:
    print(f"starting mlflow server and registering {MODEL_NAME} @A and @B (logs in {workdir})", flush=True)
    with mlflow_server(workdir / "mlflow") as mlflow:
        versions = seed_variants(mlflow.url, MODEL_NAME)
        app_env = {
            "MLFLOW_TRACKING_URI": mlflow.url,
            "RELOAD_SECRET_TOKEN": token,
            "LOG_FILE": str(workdir / "logs" / "fastapi.log"),  # as in the cluster: stdout and a file
            **MODES["canary"],
        }
        with app_server(app_env, workdir / "app.out") as app:
            reply = check_reply(app, "/predict", OUR_BODY, CLIENT_ID)
            version, ours_body = reply.headers["x-model-version"], reply.json()
            print(f"our app: {CLIENT_ID} routed to @{reply.headers['x-variant']} (v{version})", flush=True)
            ours = measure(app, "/predict", OUR_BODY, load, CLIENT_ID)
            print(f"our app: {ours.rps:,.0f} req/s; hot swap ({2 * load.swap_seconds:g} s)", flush=True)
            swap = hot_swap_run(app, mlflow.url, token, versions, load)
        with mlflow_models_serve(mlflow.url, version, workdir / "mlflow-models-serve.log") as serve:
            theirs_body = check_reply(serve, "/invocations", MLFLOW_BODY).json()
            if not predictions_agree(ours_body, theirs_body):
                raise BenchError(f"predictions differ for v{version}: ours {ours_body}, mlflow {theirs_body}")
            print(f"mlflow models serve v{version}: same prediction; measuring", flush=True)
            theirs = measure(serve, "/invocations", MLFLOW_BODY, load)
    with floor_server(workdir / "floor.log") as floor:
        check_reply(floor, "/predict", OUR_BODY)
        print("bare FastAPI floor: measuring", flush=True)
        floor_result = measure(floor, "/predict", OUR_BODY, load)
    return BenchResults(ours=ours, mlflow=theirs, floor=floor_result, swap=swap)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts(load_average: tuple[float, float, float]) -> dict[str, str]:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout
    packages = ("mlflow", "fastapi", "uvicorn", "scikit-learn", "numpy", "pydantic")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu_model()}, {os.cpu_count()} cores, {platform.platform()}",
        "load average when the bench started": " ".join(f"{value:.2f}" for value in load_average),
        "versions": ", ".join(
            [
                f"Python {platform.python_version()}",
                *(f"{package} {metadata.version(package)}" for package in packages),
                (wrk_version.splitlines() or ["wrk ?"])[0].split(" [")[0],
            ]
        ),
    }


def write_doc(path: Path, section: str) -> None:
    document = path.read_text() if path.exists() else "# Benchmarks\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.replace_section(document, section))


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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
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
    write_doc(args.output, report.results_section(results, machine_facts(load_average), load.describe()))
    elapsed = time.monotonic() - started
    print(f"written to {args.output} in {elapsed:.0f} s; every process the bench started is stopped")
    print(report.summary_line(results))
    return 1 if results.swap.reload_failures else 0


if __name__ == "__main__":
    sys.exit(main())
