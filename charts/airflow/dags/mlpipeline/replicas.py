"""Find every serving replica, and describe what one replica answered (the release fleet's building blocks).

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
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

DNS_SCHEME = "dns+"
SYNC_TIMEOUT_SECONDS = 120.0  # a sync may load a version: download the artifacts, import sklearn
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
