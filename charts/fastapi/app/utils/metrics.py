"""Prometheus metrics of the serving app (one app per process, so the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "serving_requests_total", "HTTP requests by served variant, model version, mode and status",
    ["variant", "version", "mode", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "serving_request_latency_seconds", "Request latency by served variant", ["variant"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)  # fmt: skip
LOADED_VERSION = Gauge("serving_model_version", "Registry version loaded per alias (0: none)", ["alias"])
RELOADS = Counter(
    "serving_reloads_total", "Reload attempts by alias, trigger and result", ["alias", "result"]
)


def record_loaded(alias: str, version: str | None) -> None:
    LOADED_VERSION.labels(alias=alias).set(int(version) if version and version.isdigit() else 0)
