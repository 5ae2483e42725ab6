"""Steady client traffic against serving replicas, recorded response by response (tests, demo, release).

A fixed population of clients sends ``POST /predict`` round-robin over the replicas, each client with its own
``x-client-id`` and iris rows, from a few threads, until stopped. Every response is kept with the client,
the variant and version that served it and whether it failed, so a caller can ask what a release looked
like from the clients' side: failures by variant, and whether any client went back to an older version.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from sklearn.datasets import load_iris

REQUEST_TIMEOUT_SECONDS = 10.0
IRIS_ROWS = 150  # the rows of sklearn's iris data set: what labelled_round's draws index


@dataclass(frozen=True)
class Reply:
    client: str
    status: int  # 0: no HTTP answer at all
    variant: str | None
    version: str | None
    at: float

    @property
    def failed(self) -> bool:
        return self.status != 200


class Traffic:
    """Thread-safe record of the replies; ``since(mark)`` reads what came after a ``mark()``."""

    def __init__(self) -> None:
        self._replies: list[Reply] = []
        self._lock = threading.Lock()

    def add(self, reply: Reply) -> None:
        with self._lock:
            self._replies.append(reply)

    def mark(self) -> int:
        with self._lock:
            return len(self._replies)

    def since(self, mark: int = 0) -> list[Reply]:
        with self._lock:
            return self._replies[mark:]

    def counts(self, mark: int = 0) -> Counter[str]:
        """Replies per ``<variant> v<version>`` (``failed`` for a reply that was not a 200)."""
        return Counter(
            "failed" if reply.failed else f"{reply.variant} v{reply.version}" for reply in self.since(mark)
        )


def flip_flops(replies: Sequence[Reply], new_version: str) -> list[str]:
    """Clients that were served ``new_version`` and afterwards an older one (sticky rollout broken)."""
    seen_new: set[str] = set()
    offenders: set[str] = set()
    for reply in sorted(replies, key=lambda reply: reply.at):
        if reply.failed:
            continue
        if reply.version == new_version:
            seen_new.add(reply.client)
        elif reply.client in seen_new:
            offenders.add(reply.client)
    return sorted(offenders)


def _send(http: httpx.Client, url: str, client: str, row: list[float]) -> Reply:
    try:
        response = http.post(f"{url}/predict", json={"data": [row]}, headers={"x-client-id": client})
    except httpx.HTTPError:
        return Reply(client, 0, None, None, time.monotonic())
    return Reply(
        client,
        response.status_code,
        response.headers.get("x-variant"),
        response.headers.get("x-model-version"),
        time.monotonic(),
    )


@contextmanager
def client_traffic(
    urls: Sequence[str], *, clients: int = 200, threads: int = 4, pause: float = 0.0
) -> Iterator[Traffic]:
    """Send traffic while the block runs; every thread has stopped when it exits."""
    rows = load_iris().data.tolist()
    traffic = Traffic()
    stop = threading.Event()

    def worker(offset: int) -> None:
        # Each thread owns every threads-th client, so a client's requests are sequential and in order.
        population = [f"client-{index}" for index in range(offset, clients, threads)]
        start = offset % len(urls)
        targets = itertools.cycle([*urls[start:], *urls[:start]])
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS) as http:
            for step in itertools.count():
                if stop.is_set():
                    return
                client = population[step % len(population)]
                traffic.add(_send(http, next(targets), client, rows[(offset + step) % len(rows)]))
                if pause:
                    time.sleep(pause)

    workers = [threading.Thread(target=worker, args=(offset,), daemon=True) for offset in range(threads)]
    for thread in workers:
        thread.start()
    try:
        yield traffic
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=REQUEST_TIMEOUT_SECONDS + 5)


def labelled_round(
    http: httpx.Client, url: str, clients: Sequence[str], draws: Sequence[Sequence[int]]
) -> int:
    """Each client predicts its drawn iris rows (indices into the data set) on ``url``, then the true labels
    of every prediction go to that replica in one ``POST /feedback`` list; returns how many it accepted."""
    iris = load_iris()
    feedback = []
    for client, chosen in zip(clients, draws, strict=True):
        rows = [iris.data[index].tolist() for index in chosen]
        reply = http.post(f"{url}/predict", json={"data": rows}, headers={"x-client-id": client})
        reply.raise_for_status()
        labels = [int(iris.target[index]) for index in chosen]
        feedback.append({"request_id": reply.json()["request_id"], "label": labels})
    graded = http.post(f"{url}/feedback", json=feedback)
    graded.raise_for_status()
    return int(graded.json()["accepted"])
