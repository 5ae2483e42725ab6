"""Fakes for the release controller's ports: a registry, a fleet of simulated replicas, a clock.

The fake replicas behave like the app's contract: a sync re-reads the registry (the state tag as JSON and both
aliases), ``GET /release`` reports the effective values, and traffic served while the fake clock sleeps is
counted in a real ``prometheus_client`` registry per replica, so the controller parses real exposition text.
``GET /experiment`` answers a body in the app's shape, set by the test (the verdict is the app's statistics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from mlpipeline.registry import READY
from mlpipeline.release.cas import must_move
from mlpipeline.release.ports import ExperimentView, ReplicaMetrics, ReplicaView
from mlpipeline.release.state import ReleaseState, Routing
from mlpipeline.replicas import ReplicaOutcome

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SETTINGS = Routing(live="A", canary_percent=10, ab_split_percent=90)
START = datetime(2026, 11, 23, 23, 15, tzinfo=UTC)  # FakeClock.now() at time 0


def experiment_body(
    a_labelled: int = 0,
    b_labelled: int = 0,
    difference: tuple[float, float, float] | None = None,
    *,
    metric: str = "accuracy",
    result: str = "inconclusive",
    labels_needed: int | None = None,
    experiment_id: str = "",
) -> dict[str, Any]:
    """A whole ``GET /experiment`` body as the app answers it; ``difference``: (estimate, lower, upper)."""

    def variant(labelled: int, version: str) -> dict[str, Any]:
        return {
            "predictions": labelled * 2,
            "fallback_served": 0,
            "labelled": labelled,
            "value": 0.9 if labelled else None,
            "interval": {"lower": 0.8, "upper": 0.95} if labelled else None,
            "p99_ms": 3.2,
            "versions": [version],
        }

    named = None if difference is None else dict(zip(("estimate", "lower", "upper"), difference, strict=True))
    return {
        "experiment_id": experiment_id,
        "started_at": "2026-11-23T23:00:00.000001+00:00",
        "since": None,
        "task": "classification" if metric == "accuracy" else "regression",
        "metric": metric,
        "alpha": 0.05,
        "variants": {"A": variant(a_labelled, "3"), "B": variant(b_labelled, "7")},
        "verdict": {"result": result, "difference": named, "labels_needed": labels_needed},
        "sample_ratio": None,
        "shadow": None,
    }


class Crash(BaseException):
    """A process dying mid-step (not an error the controller handles)."""


class FakeClock:
    def __init__(self) -> None:
        self.time = 0.0
        self.listeners: list[Callable[[float], None]] = []

    def monotonic(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += seconds
        for listener in self.listeners:
            listener(seconds)

    def now(self) -> datetime:
        return START + timedelta(seconds=self.time)


class FakeRegistry:
    """The state tag as JSON text (so every read parses it) and the aliases; every change is logged."""

    def __init__(self, versions: dict[str, str | None], *, model_name: str = "best_model") -> None:
        self.model_name = model_name
        self.alias_versions = dict(versions)
        self.tag: str | None = None
        self.statuses: dict[str, str] = {str(v): READY for v in range(1, 20)}
        self.examples: dict[str, list[list[Any]] | None] = {}
        self.events: list[tuple[str, ...]] = []
        self.crash_when: Callable[[ReleaseState], bool] = lambda _state: False

    def read_state(self) -> ReleaseState | None:
        return None if self.tag is None else ReleaseState.from_json(self.tag)

    def write_state(self, state: ReleaseState) -> None:
        if self.crash_when(state):
            self.crash_when = lambda _state: False
            raise Crash
        self.tag = state.to_json()
        self.events.append(("state", state.phase, str(state.routing.live), str(state.routing.canary_percent)))

    def aliases(self) -> dict[str, str | None]:
        return {alias: self.alias_versions.get(alias) for alias in ("A", "B")}

    def move_alias(self, alias: str, expected: str | None, new: str | None) -> bool:
        if not must_move(alias, self.alias_versions.get(alias), expected, new):
            return False
        self.alias_versions[alias] = new
        self.events.append(("move", alias, str(new)))
        return True

    def manual_move(self, alias: str, version: str) -> None:
        self.alias_versions[alias] = version
        self.events.append(("manual", alias, version))

    def version_status(self, version: str) -> str | None:
        return self.statuses.get(version)

    def input_example(self, version: str) -> list[list[Any]] | None:
        return self.examples.get(version, [[5.1, 3.5, 1.4, 0.2]])

    def states(self) -> list[tuple[str, ...]]:
        return [event for event in self.events if event[0] == "state"]


@dataclass
class Behaviour:
    error_fraction: float = 0.0
    latency: float = 0.004
    predict_ok: bool = True


@dataclass
class FakeReplica:
    url: str
    mode: str
    reachable: bool = True
    frozen: bool = False  # ignores syncs: a replica that disagrees with the fleet
    rejects_token: bool = False  # its Secret holds another reload token: every sync answers 403
    b_missing: bool = False  # routes B's clients to A (B not loaded here): fallbacks
    state: ReleaseState | None = None
    versions: dict[str, str | None] = field(default_factory=lambda: {"A": None, "B": None})
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "serving_requests_total",
            "requests",
            ["variant", "version", "mode", "status"],
            registry=self.metrics,
        )
        self.latency = Histogram(
            "serving_request_latency_seconds", "latency", ["variant"], buckets=BUCKETS, registry=self.metrics
        )
        self.fallbacks = Counter(
            "serving_fallbacks_total", "fallbacks", ["wanted", "served"], registry=self.metrics
        )

    def routing(self) -> Routing:
        state = self.state.routing if self.state else Routing()
        return Routing(
            state.live or SETTINGS.live,
            SETTINGS.canary_percent if state.canary_percent is None else state.canary_percent,
            SETTINGS.ab_split_percent if state.ab_split_percent is None else state.ab_split_percent,
        )

    def view(self) -> ReplicaView:
        if not self.reachable:
            return ReplicaView(self.url, False, detail="unreachable: ConnectError")
        routing = self.routing()
        state = self.state
        return ReplicaView(
            self.url,
            True,
            mode=self.mode,
            live=routing.live,
            canary_percent=routing.canary_percent,
            ab_split_percent=routing.ab_split_percent,
            experiment_id=state.experiment_id if state else None,
            release_id=state.release_id if state else None,
            phase=state.phase if state else None,
            versions=dict(self.versions),
        )

    def b_share(self) -> float:
        routing = self.routing()
        if self.mode == "canary":
            return (routing.canary_percent or 0) / 100
        if self.mode == "ab_test":
            return 1 - (routing.ab_split_percent or 0) / 100
        return 1.0 if routing.live == "B" else 0.0

    def serve(self, count: int, behaviours: dict[str, Behaviour]) -> None:
        to_b = round(count * self.b_share())
        for variant, n in (("A", count - to_b), ("B", to_b)):
            served = variant
            if variant == "B" and self.b_missing:
                served = "A"
                self.fallbacks.labels(wanted="B", served="A").inc(n)
            version = self.versions[served] or "none"
            behaviour = behaviours.get(version, Behaviour())
            errors = round(n * behaviour.error_fraction)
            for status, amount in (("500", errors), ("200", n - errors)):
                if amount:
                    self.requests.labels(variant=served, version=version, mode=self.mode, status=status).inc(
                        amount
                    )
            for _ in range(n):
                self.latency.labels(variant=served).observe(behaviour.latency)


class FakeFleet:
    """Replicas that converge on the fake registry when synced and serve ``rate`` requests/s each."""

    def __init__(
        self, registry: FakeRegistry, clock: FakeClock, *, mode: str, count: int = 2, rate: int = 50
    ):
        self.registry = registry
        self.replicas = [FakeReplica(f"http://replica-{i}", mode) for i in range(1, count + 1)]
        self.rate = rate
        self.behaviours: dict[str, Behaviour] = {}
        self.predicted: list[tuple[str, str]] = []
        self.token_problem: str | None = None
        # GET /experiment: the body for a ``since`` (None: the whole experiment), or why it could not be read.
        self.experiment_answer: Callable[[datetime | None], object] = lambda _since: experiment_body()
        self.experiment_failure: str | None = None
        self.experiment_since: list[datetime | None] = []
        clock.listeners.append(self.serve)
        for replica in self.replicas:
            self._apply(replica)

    def _apply(self, replica: FakeReplica) -> None:
        if replica.reachable and not replica.frozen:
            replica.state = self.registry.read_state()
            replica.versions = self.registry.aliases()

    def serve(self, seconds: float) -> None:
        for replica in self.replicas:
            if replica.reachable:
                replica.serve(round(self.rate * seconds), self.behaviours)

    def sync_problem(self) -> str | None:
        return self.token_problem

    def sync_all(self) -> list[ReplicaView]:
        views = []
        for replica in self.replicas:
            if replica.reachable and replica.rejects_token:
                detail = "POST /release/sync: HTTP 403 x-token is not valid"
                views.append(ReplicaView(replica.url, False, detail=detail, token_rejected=True))
                continue
            self._apply(replica)
            views.append(replica.view())
        return views

    def status_all(self) -> list[ReplicaView]:
        return [replica.view() for replica in self.replicas]

    def metrics_all(self) -> list[ReplicaMetrics]:
        return [
            ReplicaMetrics(r.url, generate_latest(r.metrics).decode())
            if r.reachable
            else ReplicaMetrics(r.url, None, "unreachable: ConnectError")
            for r in self.replicas
        ]

    def predict_all(self, alias: str, rows: list[list[Any]]) -> list[ReplicaOutcome]:
        outcomes = []
        for replica in self.replicas:
            version = replica.versions.get(alias)
            self.predicted.append((replica.url, str(version)))
            if not replica.reachable:
                outcomes.append(ReplicaOutcome(replica.url, False, detail="unreachable: ConnectError"))
            elif not self.behaviours.get(str(version), Behaviour()).predict_ok:
                outcomes.append(ReplicaOutcome(replica.url, False, detail="HTTP 500 boom"))
            else:
                outcomes.append(ReplicaOutcome(replica.url, True, version=version, detail="prediction [0]"))
        return outcomes

    def experiment(self, since: datetime | None = None) -> ExperimentView:
        self.experiment_since.append(since)
        reachable = [replica for replica in self.replicas if replica.reachable]
        if self.experiment_failure or not reachable:
            return ExperimentView("", False, self.experiment_failure or "no replica answered")
        # As HttpFleet reads it: the verdict only for the whole experiment (concluding), never for the gate.
        return ExperimentView.from_body(
            reachable[0].url, self.experiment_answer(since), verdict=since is None
        )
