"""The serving replicas over HTTP: discovery (``SERVING_REPLICAS``), then one call per replica, concurrently.

Each replica gets its own answer (``ReplicaView``, ``ReplicaMetrics``, ``ReplicaOutcome``); a replica that
is down, slow or refusing is reported as such and never hides the others. Every call has a timeout.
``GET /experiment`` is the exception: the prediction log behind it is shared, so the first replica to answer
it readably answers for the fleet (``ExperimentView``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from mlpipeline.release.ports import ExperimentView, ReplicaMetrics, ReplicaView
from mlpipeline.replicas import (
    STATUS_TIMEOUT_SECONDS,
    SYNC_TIMEOUT_SECONDS,
    ReplicaOutcome,
    Resolver,
    discover,
    resolve_ipv4,
    response_detail,
    transport_failure,
)

T = TypeVar("T")
PREDICT_TIMEOUT_SECONDS = 30.0
MAX_CONCURRENCY = 16
# GET /experiment aggregates the shared prediction log since the window start: slower than a status read.
EXPERIMENT_TIMEOUT_SECONDS = 30.0


def normalize_token(value: str) -> str:
    """The reload token's one rule, the serving app's too (``serving.config.normalize_token``; a contract
    test pins both): surrounding whitespace, such as a ``--from-file`` secret's newline, is not part of it."""
    return value.strip()


class HttpFleet:
    def __init__(self, spec: str, token: str, *, resolve: Resolver = resolve_ipv4) -> None:
        self._spec = spec
        self._token = normalize_token(token)
        self._resolve = resolve

    def replicas(self) -> list[str]:
        """Discovered again on every call: the replicas that exist now are the ones checked."""
        return discover(self._spec, self._resolve)

    def _each(self, timeout: float, call: Callable[[httpx.Client, str], T]) -> list[T]:
        urls = self.replicas()
        with (
            httpx.Client(timeout=timeout) as http,
            ThreadPoolExecutor(min(len(urls), MAX_CONCURRENCY)) as pool,
        ):
            return list(pool.map(lambda url: call(http, url), urls))

    def sync_problem(self) -> str | None:
        if not self._token:
            return "RELOAD_SECRET_TOKEN is not set: POST /release/sync on the replicas needs it"
        return None

    def sync_all(self) -> list[ReplicaView]:
        # A sync may load a model (download and import): the reload timeout, not the status one.
        return self._each(SYNC_TIMEOUT_SECONDS, self._sync)

    def _sync(self, http: httpx.Client, url: str) -> ReplicaView:
        return _view(http, url, "POST", "/release/sync", {"x-token": self._token})

    def status_all(self) -> list[ReplicaView]:
        return self._each(STATUS_TIMEOUT_SECONDS, lambda http, url: _view(http, url, "GET", "/release", {}))

    def metrics_all(self) -> list[ReplicaMetrics]:
        return self._each(STATUS_TIMEOUT_SECONDS, _metrics)

    def predict_all(self, alias: str, rows: list[list[Any]]) -> list[ReplicaOutcome]:
        return self._each(PREDICT_TIMEOUT_SECONDS, lambda http, url: _predict(http, url, alias, rows))

    def experiment(self, since: datetime | None = None) -> ExperimentView:
        # One replica at a time, not all at once: every replica answers from the same shared log, so one
        # readable answer is enough and the others would only repeat the same database query.
        failures: list[str] = []
        with httpx.Client(timeout=EXPERIMENT_TIMEOUT_SECONDS) as http:
            for url in self.replicas():
                view = _experiment(http, url, since)
                if view.ok:
                    return view
                failures.append(view.detail)
        return ExperimentView("", False, "; ".join(failures) or "no replicas found")


def _view(http: httpx.Client, url: str, method: str, path: str, headers: dict[str, str]) -> ReplicaView:
    try:
        response = http.request(method, f"{url}{path}", headers=headers)
    except httpx.HTTPError as error:
        return ReplicaView(url, False, detail=transport_failure(error))
    if response.status_code != 200:
        rejected = "x-token" in headers and response.status_code in (401, 403)
        return ReplicaView(
            url, False, detail=f"{method} {path}: {response_detail(response)}", token_rejected=rejected
        )
    try:
        return ReplicaView.from_body(url, response.json())
    except ValueError:
        return ReplicaView(url, False, detail=f"{method} {path}: the answer is not JSON")


def _metrics(http: httpx.Client, url: str) -> ReplicaMetrics:
    try:
        response = http.get(f"{url}/metrics")
    except httpx.HTTPError as error:
        return ReplicaMetrics(url, None, transport_failure(error))
    if response.status_code != 200:
        return ReplicaMetrics(url, None, f"GET /metrics: {response_detail(response)}")
    return ReplicaMetrics(url, response.text)


def _experiment(http: httpx.Client, url: str, since: datetime | None) -> ExperimentView:
    # params= percent-encodes the offset's "+", which a bare query string would turn into a space. No since:
    # no parameter at all (the app reads the experiment from its start), and the verdict is read as well.
    query = {} if since is None else {"since": since.astimezone(UTC).isoformat()}
    try:
        response = http.get(f"{url}/experiment", params=query)
    except httpx.HTTPError as error:
        return ExperimentView(url, False, f"{url}: {transport_failure(error)}")
    if response.status_code != 200:
        # 404 included: an app without GET /experiment cannot show that B is not worse, so it is no pass.
        return ExperimentView(url, False, f"{url}: GET /experiment: {response_detail(response)}")
    try:
        body = response.json()
    except ValueError:
        return ExperimentView(url, False, f"{url}: GET /experiment: the answer is not JSON")
    return ExperimentView.from_body(url, body, verdict=since is None)


def _predict(http: httpx.Client, url: str, alias: str, rows: list[list[Any]]) -> ReplicaOutcome:
    try:
        response = http.post(f"{url}/variant/{alias}/predict", json={"data": rows})
    except httpx.HTTPError as error:
        return ReplicaOutcome(url, False, detail=transport_failure(error))
    if response.status_code != 200:
        return ReplicaOutcome(url, False, detail=response_detail(response))
    try:
        body = response.json()
    except ValueError:
        return ReplicaOutcome(url, False, detail="the answer is not JSON")
    if not isinstance(body, dict):
        return ReplicaOutcome(url, False, detail="the answer is not a JSON object")
    version = body.get("version")
    return ReplicaOutcome(
        url,
        True,
        version=None if version is None else str(version),
        detail=f"prediction {body.get('prediction')}",
    )
