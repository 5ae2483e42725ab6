"""The release state and the routing values it makes effective (pure: no I/O, no clock).

The state is one JSON object written by the release controller as a registered-model tag. It is taken whole
or not at all: a state that does not validate leaves the previous effective release in place and is reported
as ``state_error``, so a replica never routes on half a release. Fields the app does not know are ignored (a
newer controller may add some); the routing mode itself always comes from the settings (policy in git).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serving.config import Percent, RoutingMode, Settings, Variant

SETTINGS = "settings"
RELEASE_STATE = "release_state"
ROUTING_FIELDS = ("live", "canary_percent", "ab_split_percent", "experiment_id")

Phase = Literal["releasing", "released", "promoted", "stopped", "rolled_back"]
Version = Annotated[str, Field(min_length=1, max_length=64)]


class _Strict(BaseModel):
    # Strict: 25.0, "25" and true are not percents; a controller writing them has a bug worth reporting.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, populate_by_name=True)


class Before(_Strict):
    """What the release found, recorded before anything moved (the controller's rollback target)."""

    A: Version | None = None
    B: Version | None = None
    live: Variant | None = None
    canary_percent: Percent | None = None
    ab_split_percent: Percent | None = None


class ReleaseState(_Strict):
    schema_version: Literal[1] | None = Field(default=None, alias="schema")
    release_id: str | None = None
    strategy: RoutingMode | None = None
    phase: Phase | None = None
    alias: Variant | None = None
    candidate: Version | None = None
    live: Variant | None = None
    canary_percent: Percent | None = None
    ab_split_percent: Percent | None = None
    experiment_id: str | None = None
    before: Before | None = None
    updated_at: str | None = None


class ReleaseStateError(ValueError):
    """The tag is not a valid release state; the message is one line naming the first problem."""


def parse_state(raw: str | None) -> ReleaseState | None:
    """The release state in ``raw`` (the tag's value), or None when no release has written one."""
    if raw is None:
        return None
    try:
        return ReleaseState.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "tag"
        message = " ".join(f"{where}: {first['msg']}".split())  # one line, whatever the parser said
        raise ReleaseStateError(f"release state invalid, routing unchanged: {message[:200]}") from None


@dataclass(frozen=True)
class EffectiveRelease:
    """What routing uses now, where each value came from, and the release state behind it (if any)."""

    mode: RoutingMode
    live: str
    canary_percent: int
    ab_split_percent: int
    experiment_id: str | None
    sources: dict[str, str]
    state: ReleaseState | None = None
    state_error: str | None = None


def effective(settings: Settings, state: ReleaseState | None) -> EffectiveRelease:
    """Each routing value from the release state when it sets one, else from the settings."""
    chosen = state or ReleaseState()
    live = settings.default_alias if chosen.live is None else chosen.live
    canary = settings.canary_percent if chosen.canary_percent is None else chosen.canary_percent
    split = settings.ab_split_percent if chosen.ab_split_percent is None else chosen.ab_split_percent
    experiment = (settings.experiment_id or None) if chosen.experiment_id is None else chosen.experiment_id
    sources = {name: SETTINGS if getattr(chosen, name) is None else RELEASE_STATE for name in ROUTING_FIELDS}
    return EffectiveRelease(settings.alias_selection_mode, live, canary, split, experiment, sources, state)


def advance(current: EffectiveRelease, settings: Settings, raw: str | None) -> EffectiveRelease:
    """The release after reading ``raw``: the new state whole, or the current one with the error named."""
    try:
        state = parse_state(raw)
    except ReleaseStateError as error:
        return replace(current, state_error=str(error))
    return effective(settings, state)


def unreadable(current: EffectiveRelease, reason: str) -> EffectiveRelease:
    """The registry did not answer: keep routing as before and say why the state may be stale."""
    return replace(current, state_error=f"release state not read, routing unchanged: {reason}")
