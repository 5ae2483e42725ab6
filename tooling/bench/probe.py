"""A ``GET /livez`` probe beside the load: is the event loop still answering while the server is busy?

A thread in the bench's own process, one request every ``PROBE_INTERVAL`` on a kept-alive connection: a
kubelet-like prober, light enough (about 50 req/s) not to change the load it watches. wrk's script POSTs,
and a second wrk would add a 17th connection at full speed rather than probe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

PROBE_INTERVAL = 0.02
PROBE_TIMEOUT = 5.0  # wrk's timeout: a probe slower than this counts as failed


@dataclass
class LivezSamples:
    """What the probe saw; complete once its ``with`` block has ended."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0


def _probe(url: str, samples: LivezSamples, stop: threading.Event) -> None:
    with httpx.Client(timeout=PROBE_TIMEOUT) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                ok = client.get(url).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                samples.latencies_ms.append(1000 * (time.perf_counter() - started))
            else:
                samples.failures += 1
            stop.wait(PROBE_INTERVAL)


@contextmanager
def livez_probe(server_url: str) -> Iterator[LivezSamples]:
    """Probe ``server_url``'s ``/livez`` for as long as the block runs (the thread ends with it)."""
    samples = LivezSamples()
    stop = threading.Event()
    thread = threading.Thread(target=_probe, args=(f"{server_url}/livez", samples, stop), daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join(timeout=PROBE_TIMEOUT + 1)
