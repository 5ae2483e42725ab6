"""The load every server gets: wrk with the same connections, warm-up and duration, plus a first request."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace

import httpx

from tooling.bench.procstat import group_cpu_seconds
from tooling.bench.wrk import LoadResult, WrkOutputError, parse_summary, wrk_command
from tooling.infra.localstack import ServerProcess
from tooling.infra.proc import one_line


class BenchError(RuntimeError):
    """A server could not be benchmarked; the message is one line."""


@dataclass(frozen=True)
class Load:
    """How long and how hard each server is driven: the main runs at ``connections`` with one row, then two
    one-dimensional sweeps (rows per request at ``connections``; connections at one row) that share the
    main run as their common point."""

    connections: int
    warmup: float
    duration: float
    swap_seconds: float
    sweep_warmup: float
    sweep_seconds: float
    sweep_rows: tuple[int, ...]
    sweep_connections: tuple[int, ...]

    @property
    def biggest_batch(self) -> int:
        return max(self.sweep_rows)

    def describe(self) -> str:
        return (
            f"wrk; main runs: 1 row, {self.connections} connections, {self.warmup:g} s warm-up then "
            f"{self.duration:g} s; sweeps: {self.sweep_warmup:g} s warm-up then {self.sweep_seconds:g} s "
            "per point, "
            f"rows per request {', '.join(map(str, self.sweep_rows))} at {self.connections} connections, "
            f"connections {', '.join(map(str, self.sweep_connections))} at 1 row; hot swap: "
            f"{self.swap_seconds:g} s steady, then {self.swap_seconds:g} s reloading @B every second"
        )


def run_wrk(url: str, body: str, seconds: float, connections: int, client_id: str = "") -> LoadResult:
    command = wrk_command(url, body, seconds=seconds, connections=connections, client_id=client_id)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed against {url}: {one_line(done.stderr or done.stdout)}")
    try:
        return parse_summary(done.stdout)
    except WrkOutputError as error:
        raise BenchError(f"wrk against {url}: {error}") from None


def measure(
    server: ServerProcess,
    path: str,
    body: str,
    *,
    connections: int,
    warmup: float,
    seconds: float,
    client_id: str = "",
) -> LoadResult:
    """Warm up, then measure with the server's CPU: the same for every server."""
    url = server.url + path
    if warmup > 0:
        run_wrk(url, body, warmup, connections, client_id)
    cpu_before = group_cpu_seconds(server.process.pid)
    result = run_wrk(url, body, seconds, connections, client_id)
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
