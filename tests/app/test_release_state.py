"""The release state as the app reads it (pure): parsed whole or not at all, then the effective values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from serving.config import RoutingMode, Settings
from serving.inference.release import (
    RELEASE_STATE,
    SETTINGS,
    ReleaseStateError,
    advance,
    effective,
    parse_state,
    unreadable,
)

FULL = {
    "schema": 1, "release_id": "r-20261123T231500Z-7", "strategy": "canary", "phase": "releasing",
    "alias": "B", "candidate": "7", "live": "A", "canary_percent": 25, "ab_split_percent": None,
    "experiment_id": "r-20261123T231500Z-7",
    "before": {"A": "3", "B": "5", "live": "A", "canary_percent": 10, "ab_split_percent": 90},
    "updated_at": "2026-11-23T23:15:00+00:00",
}  # fmt: skip
ALL_SETTINGS = dict.fromkeys(("live", "canary_percent", "ab_split_percent", "experiment_id"), SETTINGS)


def settings(**values: Any) -> Settings:
    return Settings(mlflow_tracking_uri="http://127.0.0.1:5000", **values)


def test_the_contract_example_parses() -> None:
    state = parse_state(json.dumps(FULL))
    assert state is not None
    assert (state.release_id, state.strategy, state.phase, state.candidate) == (
        "r-20261123T231500Z-7", RoutingMode.CANARY, "releasing", "7",
    )  # fmt: skip
    assert state.before is not None
    assert (state.before.A, state.before.B) == ("3", "5")


def test_no_tag_means_no_state_and_every_value_from_the_settings() -> None:
    assert parse_state(None) is None
    release = effective(settings(default_alias="B", canary_percent=15, ab_split_percent=70), None)
    assert (release.live, release.canary_percent, release.ab_split_percent, release.experiment_id) == (
        "B", 15, 70, None,
    )  # fmt: skip
    assert release.sources == ALL_SETTINGS
    assert release.state is None
    assert release.state_error is None


def test_set_values_come_from_the_state_and_null_ones_from_the_settings() -> None:
    config = settings(alias_selection_mode="canary", ab_split_percent=80)
    release = effective(config, parse_state(json.dumps(FULL)))
    assert (release.live, release.canary_percent, release.ab_split_percent) == ("A", 25, 80)
    assert release.experiment_id == "r-20261123T231500Z-7"
    assert release.sources == {
        "live": RELEASE_STATE, "canary_percent": RELEASE_STATE,
        "ab_split_percent": SETTINGS, "experiment_id": RELEASE_STATE,
    }  # fmt: skip


def test_the_mode_always_comes_from_the_settings() -> None:
    state = parse_state(json.dumps({**FULL, "strategy": "ab_test"}))
    assert effective(settings(alias_selection_mode="blue_green"), state).mode is RoutingMode.BLUE_GREEN


def test_unknown_fields_are_ignored_and_every_field_may_be_absent() -> None:
    assert parse_state('{"schema": 1, "traffic_mirror": {"to": "C"}, "live": "B"}') is not None
    assert parse_state("{}") is not None
    release = effective(settings(), parse_state("{}"))
    assert release.sources == ALL_SETTINGS


INVALID = {
    "live not A/B": ({**FULL, "live": "C"}, "live: Input should be 'A' or 'B'"),
    "percent above 100": ({**FULL, "canary_percent": 101}, "canary_percent: Input should be less than"),
    "percent below 0": ({**FULL, "ab_split_percent": -1}, "ab_split_percent: Input should be greater"),
    "percent as a string": ({**FULL, "canary_percent": "25"}, "canary_percent: Input should be a valid"),
    "percent as a boolean": ({**FULL, "canary_percent": True}, "canary_percent: Input should be a valid"),
    "a bad before": ({**FULL, "before": {"live": "green"}}, "before.live: Input should be 'A' or 'B'"),
    "unknown phase": ({**FULL, "phase": "paused"}, "phase: Input should be"),
    "unknown strategy": ({**FULL, "strategy": "mirror"}, "strategy: Input should be"),
    "a newer schema": ({**FULL, "schema": 2}, "schema: Input should be 1"),
    "not an object": ([1, 2], "tag: Input should be an object"),
}


@pytest.mark.parametrize(("value", "problem"), INVALID.values(), ids=INVALID.keys())
def test_an_out_of_range_value_makes_the_whole_state_invalid(value: object, problem: str) -> None:
    with pytest.raises(ReleaseStateError) as error:
        parse_state(json.dumps(value))
    assert str(error.value).startswith("release state invalid, routing unchanged: ")
    assert problem in str(error.value)


@pytest.mark.parametrize("raw", ["", "not json", '{"live": "B",', "{\n\n"])
def test_text_that_is_not_json_is_one_line(raw: str) -> None:
    with pytest.raises(ReleaseStateError) as error:
        parse_state(raw)
    assert "\n" not in str(error.value)
    assert "Invalid JSON" in str(error.value)


def test_an_invalid_state_keeps_the_previous_release_whole_and_names_the_error() -> None:
    config = settings(alias_selection_mode="canary")
    current = advance(effective(config, None), config, json.dumps({**FULL, "canary_percent": 50}))
    kept = advance(current, config, json.dumps({**FULL, "canary_percent": 75, "live": "C"}))
    assert (kept.live, kept.canary_percent, kept.sources, kept.state) == (
        current.live, 50, current.sources, current.state,
    )  # fmt: skip
    assert kept.state_error is not None
    assert "live" in kept.state_error
    recovered = advance(kept, config, json.dumps({**FULL, "canary_percent": 75}))
    assert (recovered.canary_percent, recovered.state_error) == (75, None)


def test_a_removed_tag_returns_every_value_to_the_settings() -> None:
    config = settings(default_alias="A")
    released = advance(effective(config, None), config, json.dumps({**FULL, "live": "B"}))
    cleared = advance(released, config, None)
    assert (cleared.live, cleared.sources, cleared.state) == ("A", ALL_SETTINGS, None)


def test_an_unreadable_registry_keeps_the_release_and_says_why() -> None:
    config = settings()
    current = advance(effective(config, None), config, json.dumps(FULL))
    stale = unreadable(current, "model registry unreachable (ConnectionError)")
    assert (stale.live, stale.canary_percent, stale.state) == (
        current.live,
        current.canary_percent,
        current.state,
    )
    assert (
        stale.state_error
        == "release state not read, routing unchanged: model registry unreachable (ConnectionError)"
    )
