"""The bench's run: seed the registry, measure our app (its sweeps, reloads and hot swap, with ``/livez``
probed), our app with the prediction log off, ``mlflow models serve``, MLServer, then the floor."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tooling.bench.bodies import mlflow_body, our_body, v2_body
from tooling.bench.load import BenchError, Load, check_reply, measure
from tooling.bench.probe import LivezSamples, livez_probe
from tooling.bench.procstat import group_peak_rss_bytes
from tooling.bench.report import (
    BenchResults,
    LivezRun,
    ServerCost,
    SwapRun,
    SweepPoint,
    median_seconds,
)
from tooling.bench.servers import floor_server, mlflow_models_serve, mlserver
from tooling.bench.wrk import LoadResult, parse_summary, wrk_command
from tooling.infra.localstack import (
    ROUTING_MODES,
    MlflowServer,
    ServerProcess,
    app_server,
    mlflow_client_credentials,
    mlflow_server,
)
from tooling.infra.proc import one_line
from tooling.infra.registry_seed import point_alias, seed_variants
from tooling.model import DEFAULT_MODEL_NAME

MODEL_NAME = DEFAULT_MODEL_NAME
CLIENT_ID = "bench-client"
V2_PATH = f"/v2/models/{MODEL_NAME}/infer"
TIMED_RELOADS = 4
"""Idle reloads per server whose median is reported: enough to drop a slow outlier, cheap (~0.3 s each);
even, so our @B ends on the version it started on."""

Managed = TypeVar("Managed")


@dataclass(frozen=True)
class Endpoint:
    """Where a server takes predictions and how its body for N rows is written."""

    path: str
    body: Callable[[int], str]
    client_id: str = ""


OURS = Endpoint("/predict", our_body, CLIENT_ID)
OURS_V2 = Endpoint(V2_PATH, v2_body, CLIENT_ID)
MLFLOW = Endpoint("/invocations", mlflow_body)
FLOOR = Endpoint("/predict", our_body)  # it reads no header and no body


def mlserver_endpoint(model: str) -> Endpoint:
    return Endpoint(f"/v2/models/{model}/infer", v2_body)


@contextmanager
def timed_start(manager: AbstractContextManager[Managed]) -> Iterator[tuple[Managed, float]]:
    """Enter a server's context (which spawns it and waits until it is ready): the server and the seconds
    that took."""
    began = time.monotonic()
    with manager as server:
        yield server, time.monotonic() - began


def main_run(server: ServerProcess, endpoint: Endpoint, load: Load) -> LoadResult:
    """One row at the main connections, with the main warm-up and duration: the runs the ratios compare."""
    return measure(
        server, endpoint.path, endpoint.body(1), connections=load.connections, warmup=load.warmup,
        seconds=load.duration, client_id=endpoint.client_id,
    )  # fmt: skip


def sweep_point(
    server: ServerProcess, endpoint: Endpoint, rows: int, connections: int, load: Load
) -> SweepPoint:
    body = endpoint.body(rows)
    check_reply(server, endpoint.path, body, endpoint.client_id)
    result = measure(
        server, endpoint.path, body, connections=connections, warmup=load.sweep_warmup,
        seconds=load.sweep_seconds, client_id=endpoint.client_id,
    )  # fmt: skip
    return SweepPoint(rows, connections, result)


def sweeps(
    server: ServerProcess, endpoint: Endpoint, load: Load, measured: Mapping[tuple[int, int], SweepPoint]
) -> tuple[tuple[SweepPoint, ...], tuple[SweepPoint, ...]]:
    """Rows per request at the main connections, then connections at one row; a point in ``measured``
    (rows, connections) is not run again: the main run is both sweeps' common point."""

    def point(rows: int, connections: int) -> SweepPoint:
        known = measured.get((rows, connections))
        return known or sweep_point(server, endpoint, rows, connections, load)

    by_rows = tuple(point(rows, load.connections) for rows in load.sweep_rows)
    by_connections = tuple(point(1, connections) for connections in load.sweep_connections)
    return by_rows, by_connections


def timed_request(request: Callable[[], httpx.Response], what: str) -> tuple[float, httpx.Response]:
    """Seconds until ``request`` answered 200, and the reply; anything else stops the bench."""
    began = time.monotonic()
    reply = request()
    elapsed = time.monotonic() - began
    if reply.status_code != 200:
        raise BenchError(f"{what}: HTTP {reply.status_code} {one_line(reply.text)}")
    return elapsed, reply


def our_idle_reloads(
    app: ServerProcess, mlflow_url: str, token: str, versions: dict[str, str]
) -> list[float]:
    """Seconds of each ``POST /variant/B/reload`` with no load, @B moved to the other version before each
    (untimed): reloading an alias that did not move is a no-op, not a reload."""
    alternating = itertools.islice(itertools.cycle([versions["A"], versions["B"]]), TIMED_RELOADS)
    seconds = []
    with httpx.Client(base_url=app.url, headers={"x-token": token}, timeout=60) as client:
        for version in alternating:
            point_alias(mlflow_url, MODEL_NAME, "B", version)
            elapsed, reply = timed_request(lambda: client.post("/variant/B/reload"), "our app's idle reload")
            if reply.json().get("version") != version:
                raise BenchError(f"our app's idle reload of @B to v{version} answered {one_line(reply.text)}")
            seconds.append(elapsed)
    return seconds


def expect_same_prediction(server: str, theirs: Any, ours: Any, version: str) -> None:
    """A server is measured only once it answers what our app answers for the same version and row."""
    if theirs != ours:
        raise BenchError(f"predictions differ for v{version}: ours {ours}, {server} {theirs}")


def v2_prediction(reply: httpx.Response) -> Any:
    """The data of an Open Inference Protocol v2 reply's first (here: only) output."""
    return reply.json()["outputs"][0]["data"]


def livez_run(during: str, samples: LivezSamples) -> LivezRun:
    return LivezRun(during, tuple(samples.latencies_ms), samples.failures)


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
) -> tuple[SwapRun, LivezRun, LivezRun]:
    """``POST /variant/B/predict`` steady, then while @B is swapped every second; ``/livez`` probed in
    both: the steady half is the 16-connection one-row load the loop must stay responsive under."""
    path, body = "/variant/B/predict", our_body(1)
    with livez_probe(app.url) as steady_probe:
        steady = measure(app, path, body, connections=load.connections, warmup=0, seconds=load.swap_seconds)
    alternating = [versions["A"], versions["B"]]  # @B starts on versions["B"]: the first reload moves it
    command = wrk_command(app.url + path, body, seconds=load.swap_seconds, connections=load.connections)
    with (
        livez_probe(app.url) as swap_probe,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as wrk,
    ):
        try:
            reloads, failures = reload_b_every_second(app, mlflow_url, token, alternating, wrk)
            output, errors = wrk.communicate(timeout=60)
        finally:
            if wrk.poll() is None:
                wrk.kill()
    if wrk.returncode != 0:
        raise BenchError(f"wrk failed against {app.url + path}: {one_line(errors)}")
    swap = SwapRun(steady, parse_summary(output), reloads, failures)
    connections = f"{load.connections} connections"
    return (
        swap,
        livez_run(f"`POST /variant/B/predict`, 1 row, {connections}, steady", steady_probe),
        livez_run(f"`POST /variant/B/predict`, @B swapped every second ({reloads} swaps)", swap_probe),
    )


@dataclass(frozen=True)
class OurRuns:
    ours: LoadResult
    ours_v2: LoadResult
    version: str
    prediction: list[Any]
    cost: ServerCost
    swap: SwapRun
    livez: tuple[LivezRun, ...]


def our_app_runs(
    mlflow: MlflowServer,
    app_env: dict[str, str],
    token: str,
    versions: dict[str, str],
    workdir: Path,
    load: Load,
) -> OurRuns:
    """Our app with the prediction log on: ``/predict``, v2 and its sweeps, idle reloads, the hot swap."""
    with timed_start(app_server(app_env, workdir / "app.out")) as (app, startup):
        reply = check_reply(app, OURS.path, our_body(1), CLIENT_ID)
        version, prediction = reply.headers["x-model-version"], reply.json()["prediction"]
        print(f"our app: {CLIENT_ID} routed to @{reply.headers['x-variant']} (v{version})", flush=True)
        ours = main_run(app, OURS, load)
        v2_reply = check_reply(app, V2_PATH, v2_body(1), CLIENT_ID)
        expect_same_prediction("our app on v2", v2_prediction(v2_reply), prediction, version)
        ours_v2 = main_run(app, OURS_V2, load)
        print(f"our app: {ours.rps:,.0f} req/s, v2 {ours_v2.rps:,.0f} req/s; sweeps", flush=True)
        big, main = load.biggest_batch, load.connections
        with livez_probe(app.url) as big_batch_probe:
            big_batch = sweep_point(app, OURS_V2, big, main, load)
        by_rows, by_connections = sweeps(
            app, OURS_V2, load, {(1, main): SweepPoint(1, main, ours_v2), (big, main): big_batch}
        )
        reloads = our_idle_reloads(app, mlflow.url, token, versions)
        cost = ServerCost(
            "our app (v2)", by_rows, by_connections, group_peak_rss_bytes(app.process.pid), startup,
            median_seconds(reloads),
        )  # fmt: skip
        print("our app: hot swap", flush=True)
        swap, steady_livez, swap_livez = hot_swap_run(app, mlflow.url, token, versions, load)
    big_batch_livez = livez_run(f"`POST {V2_PATH}`, {big} rows, {main} connections", big_batch_probe)
    return OurRuns(
        ours, ours_v2, version, prediction, cost, swap, (steady_livez, big_batch_livez, swap_livez)
    )


def mlflow_serve_runs(
    mlflow: MlflowServer, version: str, prediction: list[Any], workdir: Path, load: Load
) -> tuple[LoadResult, ServerCost]:
    serving = mlflow_models_serve(mlflow, version, workdir / "mlflow-models-serve.log")
    with timed_start(serving) as (serve, startup):
        theirs = check_reply(serve, MLFLOW.path, mlflow_body(1)).json().get("predictions")
        expect_same_prediction("mlflow models serve", theirs, prediction, version)
        print(f"mlflow models serve v{version}: same prediction; measuring", flush=True)
        result = main_run(serve, MLFLOW, load)
        main = load.connections
        by_rows, by_connections = sweeps(serve, MLFLOW, load, {(1, main): SweepPoint(1, main, result)})
        # No reload: a new version means a new process, so its start-up time is its reload time.
        cost = ServerCost(
            "mlflow models serve", by_rows, by_connections, group_peak_rss_bytes(serve.process.pid),
            startup, None,
        )  # fmt: skip
    return result, cost


def mlserver_runs(
    mlflow: MlflowServer, version: str, prediction: list[Any], workdir: Path, load: Load
) -> tuple[LoadResult, LoadResult, ServerCost]:
    """MLServer with batching off and on; the configuration with more req/s is swept and reloaded."""
    with timed_start(mlserver(mlflow, version, workdir)) as (models, startup):
        server, main_runs = models.server, dict[str, LoadResult]()
        for model in (models.unbatched, models.batched):
            endpoint = mlserver_endpoint(model)
            theirs = v2_prediction(check_reply(server, endpoint.path, v2_body(1)))
            expect_same_prediction(f"MLServer's {model}", theirs, prediction, version)
            print(f"MLServer {model} v{version}: same prediction as ours; measuring", flush=True)
            main_runs[model] = main_run(server, endpoint, load)
        better = max(main_runs, key=lambda model: main_runs[model].rps)
        main = load.connections
        by_rows, by_connections = sweeps(
            server, mlserver_endpoint(better), load, {(1, main): SweepPoint(1, main, main_runs[better])}
        )
        reloads = []
        with httpx.Client(base_url=f"{server.url}/v2/repository/models/{better}", timeout=60) as client:
            for _ in range(TIMED_RELOADS):  # its load of a loaded model is not timed: unload first
                timed_request(lambda: client.post("/unload"), f"MLServer's unload of {better}")
                elapsed, _ = timed_request(lambda: client.post("/load"), f"MLServer's load of {better}")
                reloads.append(elapsed)
        batching = "on" if better == models.batched else "off"
        cost = ServerCost(
            f"MLServer (batching {batching})", by_rows, by_connections,
            group_peak_rss_bytes(server.process.pid), startup, median_seconds(reloads),
        )  # fmt: skip
    return main_runs[models.unbatched], main_runs[models.batched], cost


def run_bench(workdir: Path, load: Load, token: str) -> BenchResults:
    print(f"starting mlflow server and registering {MODEL_NAME} @A and @B (logs in {workdir})", flush=True)
    # The registry runs with auth: this process seeds and moves @B as the writer, the apps read as the reader.
    with mlflow_server(workdir / "mlflow") as mlflow, mlflow_client_credentials(mlflow.users.writer):
        versions = seed_variants(mlflow.url, MODEL_NAME)
        app_env = {
            **mlflow.serving_env(),
            "RELOAD_SECRET_TOKEN": token,
            "LOG_FILE": str(workdir / "logs" / "fastapi.log"),  # as in the cluster: stdout and a file
            **ROUTING_MODES["canary"],
        }
        our = our_app_runs(mlflow, app_env, token, versions, workdir, load)
        # The same app and settings with its prediction log off (app_server's default is an SQLite log).
        with app_server({**app_env, "PREDICTION_LOG_ENABLED": "false"}, workdir / "app-log-off.out") as quiet:
            check_reply(quiet, OURS.path, our_body(1), CLIENT_ID)
            print("our app, prediction log off: measuring", flush=True)
            ours_log_off = main_run(quiet, OURS, load)
        theirs, mlflow_cost = mlflow_serve_runs(mlflow, our.version, our.prediction, workdir, load)
        unbatched, batched, mlserver_cost = mlserver_runs(mlflow, our.version, our.prediction, workdir, load)
    with floor_server(workdir / "floor.log") as floor:
        check_reply(floor, FLOOR.path, our_body(1))
        print("bare FastAPI floor: measuring", flush=True)
        floor_result = main_run(floor, FLOOR, load)
    return BenchResults(
        ours=our.ours, ours_log_off=ours_log_off, ours_v2=our.ours_v2, mlflow=theirs, mlserver=unbatched,
        mlserver_batched=batched, floor=floor_result, swap=our.swap, livez=our.livez,
        costs=(our.cost, mlflow_cost, mlserver_cost),
    )  # fmt: skip
