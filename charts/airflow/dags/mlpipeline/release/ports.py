"""What the release controller talks to, as Protocols: the registry store, the fleet of replicas, a clock.

The real ones are :class:`mlpipeline.release.mlflow_store.MlflowStore`,
:class:`mlpipeline.release.fleet.HttpFleet` and :class:`SystemClock`; the tests pass fakes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeGuard

from mlpipeline.release.state import ALIASES, ReleaseState
from mlpipeline.replicas import ReplicaOutcome


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _percent(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class ReplicaView:
    """One replica's ``GET /release`` (or ``POST /release/sync``) answer; ``ok`` False: why in ``detail``."""

    url: str
    ok: bool
    detail: str = ""
    mode: str | None = None
    live: str | None = None
    canary_percent: int | None = None
    ab_split_percent: int | None = None
    experiment_id: str | None = None
    release_id: str | None = None
    phase: str | None = None
    versions: Mapping[str, str | None] = field(default_factory=dict)
    state_error: str | None = None
    # The replica refused the reload token (401/403): no retry can fix that, only the two Secrets agreeing.
    token_rejected: bool = False

    @classmethod
    def from_body(cls, url: str, body: object) -> ReplicaView:
        """Read the app's body leniently: a field it lacks is None, which never matches an expectation."""
        if not isinstance(body, dict):
            return cls(url, False, detail="GET /release answered something other than a JSON object")
        versions = body.get("versions")
        versions = versions if isinstance(versions, dict) else {}
        return cls(
            url,
            True,
            mode=_text(body.get("mode")),
            live=_text(body.get("live")),
            canary_percent=_percent(body.get("canary_percent")),
            ab_split_percent=_percent(body.get("ab_split_percent")),
            experiment_id=_text(body.get("experiment_id")),
            release_id=_text(body.get("release_id")),
            phase=_text(body.get("phase")),
            versions={alias: _text(versions.get(alias)) for alias in ALIASES},
            state_error=_text(body.get("state_error")),
        )

    def effective(self) -> tuple[object, ...]:
        """What replicas must agree on."""
        return (
            self.mode,
            self.live,
            self.canary_percent,
            self.ab_split_percent,
            self.experiment_id,
            self.release_id,
            self.phase,
            tuple(self.versions.get(alias) for alias in ALIASES),
        )

    def line(self) -> str:
        return f"{self.url}: {self.describe()}"

    def describe(self) -> str:
        """What the replica reports, in one line without its URL."""
        if not self.ok:
            return f"FAILED ({self.detail})"
        versions = " ".join(f"@{alias}=v{self.versions.get(alias)}" for alias in ALIASES)
        error = f" state_error: {self.state_error}" if self.state_error else ""
        return (
            f"mode={self.mode} live={self.live} canary={self.canary_percent}% "
            f"ab_split={self.ab_split_percent}% {versions} release={self.release_id} "
            f"phase={self.phase}{error}"
        )


@dataclass(frozen=True)
class ReplicaMetrics:
    url: str
    text: str | None  # None: unreadable, why in detail
    detail: str = ""


@dataclass(frozen=True)
class Difference:
    """B minus A in the better direction (accuracy B - A; MAE A - B): below 0, B is worse."""

    estimate: float
    lower: float  # the always-valid confidence interval's bounds
    upper: float


class _Unreadable(ValueError):
    """A ``GET /experiment`` body without a field the quality gate reads; the message says which."""


def _is_count(value: object) -> TypeGuard[int]:
    """A JSON count: an integer at least 0 (``true`` is not 1)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(body: Mapping[str, Any], variant: str) -> int:
    variants = body.get("variants")
    side = variants.get(variant) if isinstance(variants, dict) else None
    labelled = side.get("labelled") if isinstance(side, dict) else None
    if not _is_count(labelled):
        raise _Unreadable(f"variants.{variant}.labelled is {labelled!r:.100}, not a count")
    return labelled


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _difference(body: Mapping[str, Any]) -> Difference | None:
    verdict = body.get("verdict")
    if not isinstance(verdict, dict) or "difference" not in verdict:
        raise _Unreadable("verdict.difference is missing")
    raw = verdict["difference"]
    if raw is None:  # the app has no interval yet: no labelled pair to compare
        return None
    named = raw if isinstance(raw, dict) else {}
    estimate, lower, upper = (_finite(named.get(name)) for name in ("estimate", "lower", "upper"))
    if estimate is None or lower is None or upper is None or lower > upper:
        raise _Unreadable(f"verdict.difference is {raw!r:.200}, not null or finite estimate, lower <= upper")
    return Difference(estimate, lower, upper)


RESULTS = ("B_better", "B_worse", "inconclusive")


@dataclass(frozen=True)
class Verdict:
    """What concluding an experiment reads besides the gate's fields: whose experiment, and its verdict."""

    experiment_id: str
    result: str  # one of RESULTS
    labels_needed: int | None  # the app's estimate of the labels still needed; None: it has none


def _verdict(body: Mapping[str, Any]) -> Verdict:
    experiment_id = body.get("experiment_id")
    if not isinstance(experiment_id, str):
        raise _Unreadable(f"experiment_id is {experiment_id!r:.100}, not a string")
    verdict = body.get("verdict")
    verdict = verdict if isinstance(verdict, dict) else {}
    result = verdict.get("result")
    if result not in RESULTS:
        raise _Unreadable(f"verdict.result is {result!r:.100}, not one of {', '.join(RESULTS)}")
    if "labels_needed" not in verdict:
        raise _Unreadable("verdict.labels_needed is missing")
    needed = verdict["labels_needed"]
    if needed is not None and not _is_count(needed):
        raise _Unreadable(f"verdict.labels_needed is {needed!r:.100}, not null or a count")
    return Verdict(experiment_id, str(result), needed)


@dataclass(frozen=True)
class ExperimentView:
    """What the release controller reads of a replica's ``GET /experiment``; ``ok`` False: why in detail.

    The prediction log is shared by every replica, so one answer is the fleet's. The quality gate reads only
    ``metric``, ``variants.A.labelled``, ``variants.B.labelled`` and ``verdict.difference`` (null, or
    ``estimate``, ``lower``, ``upper``); concluding an experiment also reads ``experiment_id``,
    ``verdict.result`` and ``verdict.labels_needed`` (``verdict``). A body that lacks a field read is
    unreadable, never taken as "no labels" or "inconclusive".
    """

    url: str  # the replica that answered ("" when none did: each one is named in detail)
    ok: bool
    detail: str = ""
    metric: str = ""
    a_labelled: int = 0
    b_labelled: int = 0
    difference: Difference | None = None
    verdict: Verdict | None = None  # read only when asked for (concluding); the gate does without it

    @classmethod
    def from_body(cls, url: str, body: object, *, verdict: bool = False) -> ExperimentView:
        """Read the app's body strictly (the gate must not pass, nor a conclusion act, on a field it could
        not read); ``verdict``: also read what concluding needs, so the gate's reading stays as it was."""
        try:
            if not isinstance(body, dict):
                raise _Unreadable("the answer is not a JSON object")
            metric = body.get("metric")
            if not isinstance(metric, str) or not metric:
                raise _Unreadable(f"metric is {metric!r:.100}, not a name")
            counts = _count(body, "A"), _count(body, "B")
            difference = _difference(body)
            read = _verdict(body) if verdict else None
            return cls(url, True, "", metric, *counts, difference, read)
        except _Unreadable as error:
            return cls(url, False, f"{url}: GET /experiment: {error}")


class RegistryStore(Protocol):
    """The registry side: the release state tag, the aliases (moved by compare-and-set), versions."""

    @property
    def model_name(self) -> str: ...

    def read_state(self) -> ReleaseState | None:
        """The state in the tag, None when there is none; StateError when the tag is invalid."""
        ...

    def write_state(self, state: ReleaseState) -> None: ...

    def aliases(self) -> dict[str, str | None]:
        """The version of alias A and B (None: unset)."""
        ...

    def move_alias(self, alias: str, expected: str | None, new: str | None) -> bool:
        """Compare-and-set (see :mod:`mlpipeline.release.cas`): True moved, False already there."""
        ...

    def version_status(self, version: str) -> str | None:
        """The version's registry status (READY, ...), None when the model has no such version."""
        ...

    def input_example(self, version: str) -> list[list[Any]] | None:
        """The rows of the version's logged input example, None when it has none."""
        ...


class Fleet(Protocol):
    """Every serving replica, each called on its own (one replica's failure never hides the others)."""

    def sync_problem(self) -> str | None:
        """None, or why ``sync_all`` cannot work (a missing token): one line."""
        ...

    def sync_all(self) -> list[ReplicaView]:
        """``POST /release/sync`` on every replica (DiscoveryError when none can be found)."""
        ...

    def status_all(self) -> list[ReplicaView]:
        """``GET /release`` on every replica."""
        ...

    def metrics_all(self) -> list[ReplicaMetrics]:
        """``GET /metrics`` on every replica."""
        ...

    def predict_all(self, alias: str, rows: list[list[Any]]) -> list[ReplicaOutcome]:
        """``POST /variant/{alias}/predict`` with ``{"data": rows}`` on every replica."""
        ...

    def experiment(self, since: datetime | None = None) -> ExperimentView:
        """``GET /experiment?since=<since, ISO-8601 UTC>`` from the first replica that answers it readably.

        ``since`` None: ``GET /experiment`` without it, the experiment over its whole life, read with its
        verdict (``ExperimentView.verdict``), which is what concluding the experiment acts on.
        """
        ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def now(self) -> datetime: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def now(self) -> datetime:
        return datetime.now(UTC)
