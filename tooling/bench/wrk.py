"""Drive ``wrk`` with ``post.lua`` and read its summary line (the command and the parsing are pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

SCRIPT = Path(__file__).with_name("post.lua")
SUMMARY_PREFIX = "wrk-summary "
THREADS = 2  # one per core of the machine the bench was written for; wrk needs little CPU per thread
MAX_REQUESTS = 500_000  # per run, whatever the servers' speed: a run ends at its duration or here


class WrkOutputError(ValueError):
    """wrk's output holds no summary line of the expected shape."""


class _Summary(BaseModel):
    """The JSON ``post.lua`` prints from wrk's ``done()`` hook (microseconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int
    duration_us: int
    non2xx: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    p50_us: int
    p99_us: int
    max_us: int


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    server_cpu_seconds: float | None = None  # CPU the server's processes used during the run, if measured

    @property
    def cpu_ms_per_request(self) -> float | None:
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return 1000 * self.server_cpu_seconds / self.requests

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed(self) -> int:
        """Requests without a 2xx reply: error statuses, connect/read/write errors and timeouts."""
        return self.non2xx + self.socket_errors


def wrk_command(
    url: str,
    body: str,
    *,
    seconds: float,
    connections: int,
    client_id: str = "",
    max_requests: int = MAX_REQUESTS,
) -> list[str]:
    """The same load for every server: ``connections`` open connections, POST ``body`` for ``seconds``."""
    threads = min(THREADS, connections)
    return [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "5s", "-s", str(SCRIPT), url, "--", body, client_id, str(max_requests // threads),
    ]  # fmt: skip


def parse_summary(output: str) -> LoadResult:
    """The result in wrk's ``output`` (the last ``wrk-summary`` line ``post.lua`` printed)."""
    lines = [line for line in output.splitlines() if line.startswith(SUMMARY_PREFIX)]
    if not lines:
        raise WrkOutputError("wrk printed no 'wrk-summary' line (did it run post.lua to the end?)")
    try:
        raw = _Summary.model_validate(json.loads(lines[-1].removeprefix(SUMMARY_PREFIX)))
    except (json.JSONDecodeError, ValidationError) as error:
        raise WrkOutputError(f"wrk-summary line is malformed: {str(error).splitlines()[0]}") from None
    return LoadResult(
        requests=raw.requests,
        seconds=raw.duration_us / 1e6,
        non2xx=raw.non2xx,
        socket_errors=raw.connect_errors + raw.read_errors + raw.write_errors + raw.timeouts,
        p50_ms=raw.p50_us / 1000,
        p99_ms=raw.p99_us / 1000,
    )
