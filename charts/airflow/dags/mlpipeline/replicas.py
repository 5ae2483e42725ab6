"""Reach every serving replica: find them, hot-swap a variant on each, check what each one serves.

Discovery reads ``SERVING_REPLICAS``:

- a comma-separated list of base URLs (``http://127.0.0.1:8001,http://127.0.0.1:8002``): used as given,
  for local runs and the tests;
- ``dns+http://<headless-service-fqdn>:<port>`` in a cluster: every A record of the fastapi headless
  Service becomes ``http://<pod-ip>:<port>``. We chose DNS over the Kubernetes EndpointSlice API because a
  headless Service publishes exactly the *ready* pods, and DNS needs no RBAC, no service account token and
  no client library in the Airflow image. A pod that becomes ready after discovery converges on its own
  (the app's registry watcher); verification re-discovers, so it checks the replicas that exist then.

Each replica is called on its own and gets its own outcome; one replica down never hides the others.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

DNS_SCHEME = "dns+"
RELOAD_TIMEOUT_SECONDS = 120.0  # a first load downloads the artifacts and imports sklearn
STATUS_TIMEOUT_SECONDS = 10.0

Resolver = Callable[[str, int], list[str]]


class DiscoveryError(RuntimeError):
    """SERVING_REPLICAS is unusable; the message is one line."""


def resolve_ipv4(host: str, port: int) -> list[str]:
    """Every IPv4 address of ``host`` (the A records of a headless Service), sorted, without duplicates."""
    try:
        infos = socket.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise DiscoveryError(f"cannot resolve serving replicas host {host!r}: {error.strerror}") from None
    return sorted({str(info[4][0]) for info in infos})


def discover(spec: str, resolve: Resolver = resolve_ipv4) -> list[str]:
    """Base URLs of the replicas that ``spec`` (the value of SERVING_REPLICAS) names."""
    spec = spec.strip()
    if not spec:
        raise DiscoveryError(
            "SERVING_REPLICAS is empty: set base URLs or dns+http://<headless-service>:<port>"
        )
    if spec.startswith(DNS_SCHEME):
        target = urlsplit(spec[len(DNS_SCHEME) :])
        if target.scheme not in ("http", "https") or not target.hostname or target.port is None:
            raise DiscoveryError(f"SERVING_REPLICAS {spec!r} must look like dns+http://<host>:<port>")
        addresses = resolve(target.hostname, target.port)
        if not addresses:
            raise DiscoveryError(f"no ready serving replicas behind {target.hostname}")
        return [f"{target.scheme}://{address}:{target.port}" for address in addresses]
    urls = [url.strip().rstrip("/") for url in spec.split(",") if url.strip()]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DiscoveryError(f"SERVING_REPLICAS entry {url!r} is not an http(s) base URL")
    return list(dict.fromkeys(urls))


@dataclass(frozen=True)
class ReplicaOutcome:
    url: str
    ok: bool
    version: str | None = None
    detail: str = ""

    def line(self) -> str:
        state = "ok" if self.ok else "FAILED"
        version = f" v{self.version}" if self.version else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.url}: {state}{version}{detail}"


@dataclass(frozen=True)
class ReplicaReport:
    action: str
    alias: str
    outcomes: tuple[ReplicaOutcome, ...]

    @property
    def ok(self) -> bool:
        return bool(self.outcomes) and all(outcome.ok for outcome in self.outcomes)

    @property
    def failed(self) -> tuple[ReplicaOutcome, ...]:
        return tuple(outcome for outcome in self.outcomes if not outcome.ok)

    def summary(self) -> str:
        """One line: how many replicas failed, then each replica's outcome."""
        head = f"{self.action} @{self.alias}: {len(self.outcomes) - len(self.failed)}/{len(self.outcomes)} ok"
        return head + "; " + "; ".join(outcome.line() for outcome in self.outcomes)


def response_detail(response: httpx.Response) -> str:
    """The app's one-line ``detail`` (never more than a line, never the body verbatim when it is not JSON)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    detail = body.get("detail") if isinstance(body, dict) else None
    text = detail if isinstance(detail, str) else ""
    return f"HTTP {response.status_code} {text.splitlines()[0][:200] if text else ''}".rstrip()


def transport_failure(error: httpx.HTTPError) -> str:
    return f"unreachable: {type(error).__name__}"


def reload_one(http: httpx.Client, url: str, alias: str, token: str) -> ReplicaOutcome:
    try:
        response = http.post(f"{url}/variant/{alias}/reload", headers={"x-token": token})
    except httpx.HTTPError as error:
        return ReplicaOutcome(url, False, detail=transport_failure(error))
    if response.status_code != 200:
        return ReplicaOutcome(url, False, detail=response_detail(response))
    body = response.json()
    return ReplicaOutcome(url, True, version=str(body.get("version")), detail=str(body.get("status", "")))


def served_version(http: httpx.Client, url: str, alias: str) -> ReplicaOutcome:
    """What ``url`` serves for ``alias`` according to its ``GET /models`` (ok=False if it cannot say)."""
    try:
        response = http.get(f"{url}/models")
    except httpx.HTTPError as error:
        return ReplicaOutcome(url, False, detail=transport_failure(error))
    if response.status_code != 200:
        return ReplicaOutcome(url, False, detail=response_detail(response))
    variant = response.json().get("variants", {}).get(alias)
    if not isinstance(variant, dict):
        return ReplicaOutcome(url, False, detail=f"@{alias} not loaded")
    return ReplicaOutcome(url, True, version=str(variant.get("version")))


def reload_all(urls: Iterable[str], alias: str, token: str) -> ReplicaReport:
    """POST /variant/{alias}/reload on every replica; each replica's outcome is recorded on its own."""
    with httpx.Client(timeout=RELOAD_TIMEOUT_SECONDS) as http:
        outcomes = tuple(reload_one(http, url, alias, token) for url in urls)
    return ReplicaReport("reload", alias, outcomes)


def verify_all(urls: Iterable[str], alias: str, expected_version: str) -> ReplicaReport:
    """Every replica must serve ``expected_version`` for ``alias`` (per ``GET /models``)."""
    outcomes = []
    with httpx.Client(timeout=STATUS_TIMEOUT_SECONDS) as http:
        for url in urls:
            seen = served_version(http, url, alias)
            if seen.ok and seen.version != expected_version:
                seen = ReplicaOutcome(url, False, seen.version, f"expected v{expected_version}")
            outcomes.append(seen)
    return ReplicaReport(f"verify v{expected_version}", alias, tuple(outcomes))
