"""The fleet-wide release state: one JSON registered-model tag, ``serving.release``, on the served model.

One tag is one atomic write, so every replica reads all of a state or none of it. Readers ignore unknown
fields (a later schema may add some); values out of range make the whole tag invalid (:class:`StateError`),
never half applied. The app tolerates absent fields (null = its settings); the controller writes complete
states and reads back only those (a tag it did not write completely is reported, not guessed at).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

TAG = "serving.release"
SCHEMA = 1
ALIASES = ("A", "B")
STRATEGIES = ("ab_test", "canary", "blue_green")
PHASES = ("releasing", "released", "promoted", "stopped", "rolled_back")
# A release in one of these phases has moved (or may have moved) something and not settled it yet.
UNSETTLED = ("releasing", "stopped")


def version_label(version: str | None) -> str:
    """How every release line names a version: ``v7``, or ``unset`` for an alias that points nowhere."""
    return "unset" if version is None else f"v{version}"


class StateError(ValueError):
    """The tag is not a valid release state; the message is one line naming the field."""


@dataclass(frozen=True)
class Routing:
    """The routing values a release state can set; None means "the app's settings"."""

    live: str | None = None
    canary_percent: int | None = None
    ab_split_percent: int | None = None

    def __post_init__(self) -> None:
        if self.live is not None and self.live not in ALIASES:
            raise StateError(f"live must be A or B, not {self.live!r}")
        for name in ("canary_percent", "ab_split_percent"):
            _check_percent(name, getattr(self, name))

    def describe(self) -> str:
        return f"live={self.live} canary={self.canary_percent}% ab_split={self.ab_split_percent}%"


@dataclass(frozen=True)
class Before:
    """What the release found: each alias's version (None: unset), the routing values, the experiment.

    ``experiment_id`` is an addition to the brief's schema (the app ignores unknown fields): a rolled-back
    A/B release puts back the experiment that ran before it.
    """

    versions: Mapping[str, str | None]
    routing: Routing
    experiment_id: str | None = None

    def version(self, alias: str) -> str | None:
        return self.versions.get(alias)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{alias: self.versions.get(alias) for alias in ALIASES},
            "live": self.routing.live,
            "canary_percent": self.routing.canary_percent,
            "ab_split_percent": self.routing.ab_split_percent,
            "experiment_id": self.experiment_id,
        }

    @classmethod
    def from_dict(cls, raw: object) -> Before:
        if not isinstance(raw, dict):
            raise StateError("before must be an object")
        versions = {alias: _optional_str(f"before.{alias}", raw.get(alias)) for alias in ALIASES}
        experiment = _optional_str("before.experiment_id", raw.get("experiment_id"))
        return cls(versions, _routing(raw, "before."), experiment)


@dataclass(frozen=True)
class ReleaseState:
    release_id: str
    strategy: str
    phase: str
    alias: str
    candidate: str
    before: Before
    routing: Routing = field(default_factory=Routing)
    experiment_id: str | None = None
    updated_at: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise StateError(f"strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        if self.phase not in PHASES:
            raise StateError(f"phase must be one of {', '.join(PHASES)}, not {self.phase!r}")
        if self.alias not in ALIASES:
            raise StateError(f"alias must be A or B, not {self.alias!r}")
        for name in ("release_id", "candidate"):
            if not getattr(self, name):
                raise StateError(f"{name} must be a non-empty string")

    @property
    def settled(self) -> bool:
        return self.phase not in UNSETTLED

    def evolve(self, **changes: Any) -> ReleaseState:
        """A copy with ``changes`` (``live=``, ``canary_percent=``, ``ab_split_percent=`` go to routing)."""
        routing = {
            key: changes.pop(key) for key in ("live", "canary_percent", "ab_split_percent") if key in changes
        }
        if routing:
            changes["routing"] = replace(changes.get("routing", self.routing), **routing)
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema": SCHEMA,
                "release_id": self.release_id,
                "strategy": self.strategy,
                "phase": self.phase,
                "alias": self.alias,
                "candidate": self.candidate,
                "live": self.routing.live,
                "canary_percent": self.routing.canary_percent,
                "ab_split_percent": self.routing.ab_split_percent,
                "experiment_id": self.experiment_id,
                "before": self.before.to_dict(),
                "updated_at": self.updated_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ReleaseState:
        """Parse the tag's value; :class:`StateError` (one line) when it is not a complete, valid state."""
        try:
            raw = json.loads(text)
        except ValueError as error:
            raise StateError(f"{TAG} is not JSON: {error}") from None
        if not isinstance(raw, dict):
            raise StateError(f"{TAG} must be a JSON object")
        schema = raw.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise StateError(f"{TAG} has schema {schema!r}; this controller reads schema {SCHEMA}")
        try:
            return cls(
                release_id=_required_str("release_id", raw.get("release_id")),
                strategy=_required_str("strategy", raw.get("strategy")),
                phase=_required_str("phase", raw.get("phase")),
                alias=_required_str("alias", raw.get("alias")),
                candidate=_required_str("candidate", raw.get("candidate")),
                before=Before.from_dict(raw.get("before")),
                routing=_routing(raw, ""),
                experiment_id=_optional_str("experiment_id", raw.get("experiment_id")),
                updated_at=_optional_str("updated_at", raw.get("updated_at")),
            )
        except StateError as error:
            raise StateError(f"{TAG} is invalid: {error}") from None


def _check_percent(name: str, value: object) -> None:
    # bool is an int in Python; ``true`` is never a percent.
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100):
        raise StateError(f"{name} must be an integer 0..100 or null, not {value!r}")


def _routing(raw: dict[str, Any], prefix: str) -> Routing:
    live = raw.get("live")
    if live is not None and live not in ALIASES:
        raise StateError(f"{prefix}live must be A, B or null, not {live!r}")
    for name in ("canary_percent", "ab_split_percent"):
        _check_percent(prefix + name, raw.get(name))
    return Routing(live, raw.get("canary_percent"), raw.get("ab_split_percent"))


def _optional_str(name: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise StateError(f"{name} must be a string or null, not {value!r}")
    return str(value)


def _required_str(name: str, value: object) -> str:
    text = _optional_str(name, value)
    if not text:
        raise StateError(f"{name} is missing")
    return text
