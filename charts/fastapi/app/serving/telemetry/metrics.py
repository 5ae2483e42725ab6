"""Prometheus metrics of the serving app (one app per process, so the default registry)."""

from __future__ import annotations

from functools import lru_cache

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

FALLBACKS = Counter(
    "serving_fallbacks_total", "Routed requests served by another variant than the wanted one (not loaded)",
    ["wanted", "served"],
)  # fmt: skip

BATCH_REQUESTS = Histogram(
    "serving_batch_requests", "Requests answered by one predict call (adaptive batching)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)  # fmt: skip


def record_batch(requests: int) -> None:
    BATCH_REQUESTS.observe(requests)


def record_loaded(alias: str, version: str | None) -> None:
    LOADED_VERSION.labels(alias=alias).set(int(version) if version and version.isdigit() else 0)


# The labelled children, looked up once per label combination: ``labels()`` takes a lock and builds a
# key from keyword arguments on every call, which showed up on the per-request path.
@lru_cache(maxsize=4096)
def _request_counter(variant: str, version: str, mode: str, status: int) -> Counter:
    return REQUESTS.labels(variant=variant, version=version, mode=mode, status=str(status))


@lru_cache(maxsize=64)
def _latency_histogram(variant: str) -> Histogram:
    return LATENCY.labels(variant=variant)


def record_request(variant: str, version: str, mode: str, status: int, seconds: float) -> None:
    _request_counter(variant, version, mode, status).inc()
    _latency_histogram(variant).observe(seconds)


@lru_cache(maxsize=16)
def _fallback_counter(wanted: str, served: str) -> Counter:
    return FALLBACKS.labels(wanted=wanted, served=served)


def record_fallback(wanted: str, served: str) -> None:
    _fallback_counter(wanted, served).inc()


LOG_DROPPED = Counter(
    "serving_prediction_log_dropped_total", "Prediction records dropped because the log's queue was full"
)
LOG_WRITTEN = Counter("serving_prediction_log_written_total", "Prediction records written to the log")
LABELS = Counter(
    "serving_labels_total", "Predicted rows graded by feedback, by the variant and version that served them",
    ["variant", "version"],
)  # fmt: skip
LABELS_CORRECT = Counter(
    "serving_labels_correct_total", "Graded rows whose prediction equalled the label (classification)",
    ["variant", "version"],
)  # fmt: skip
LABEL_ABS_ERROR = Counter(
    "serving_label_abs_error_total",
    "Sum of graded rows' absolute errors (regression)",
    ["variant", "version"],
)
FEEDBACK_ERRORS = Counter("serving_feedback_errors_total", "Feedback items refused, by reason", ["reason"])
SHADOW = Counter(
    "serving_shadow_total", "Shadow scorings by result (scored, dropped, failed, not_loaded)", ["result"]
)


LOG_RECORDS_DROPPED = Counter(
    "serving_log_records_dropped_total", "Log records dropped while the log sink stalled (queue full)"
)


def record_log_record_dropped() -> None:
    LOG_RECORDS_DROPPED.inc()


def record_log_drop() -> None:
    LOG_DROPPED.inc()


def record_log_written(count: int) -> None:
    LOG_WRITTEN.inc(count)


def record_label(variant: str, version: str, rows: int, total: float, *, regression: bool) -> None:
    """``total``: the rows' absolute errors summed (regression), else how many of them were correct."""
    LABELS.labels(variant=variant, version=version).inc(rows)
    graded = LABEL_ABS_ERROR if regression else LABELS_CORRECT
    graded.labels(variant=variant, version=version).inc(total)


def record_feedback_error(reason: str) -> None:
    FEEDBACK_ERRORS.labels(reason=reason).inc()


def record_shadow(result: str) -> None:
    SHADOW.labels(result=result).inc()
