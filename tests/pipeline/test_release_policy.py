"""The release policy from the environment, and the release state tag's round trip and validation."""

from __future__ import annotations

import json

import pytest

from mlpipeline.release.cas import must_move
from mlpipeline.release.errors import ConflictError, UsageError
from mlpipeline.release.policy import ReleasePolicy
from mlpipeline.release.state import Before, ReleaseState, Routing, StateError


def test_defaults_and_overrides() -> None:
    assert ReleasePolicy.from_env({}) == ReleasePolicy()
    policy = ReleasePolicy.from_env(
        {
            "RELEASE_STEPS": " 10, 100 ",
            "RELEASE_STEP_SECONDS": "30",
            "RELEASE_MIN_REQUESTS": "20",
            "RELEASE_MAX_ERROR_RATE": "0.05",
            "RELEASE_MAX_P99_RATIO": "2",
            "RELEASE_QUALITY_MARGIN": "0.5",
            "RELEASE_CONVERGE_SECONDS": "45",
            "RELEASE_POLL_SECONDS": "0.5",
            "RELEASE_UNRELATED": "x",
        }
    )
    assert policy == ReleasePolicy((10, 100), 30.0, 20, 0.05, 2.0, 0.5, 45.0, 0.5)
    assert ReleasePolicy.from_env({"RELEASE_QUALITY_MARGIN": "0"}).quality_margin == 0.0


def test_unset_or_empty_variables_keep_the_given_defaults() -> None:
    defaults = ReleasePolicy(steps=(50, 100), min_requests=5)

    assert ReleasePolicy.from_env({"RELEASE_STEPS": "", "RELEASE_MIN_REQUESTS": " "}, defaults) == defaults


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("RELEASE_STEPS", "5,25,50", "ending at 100"),
        ("RELEASE_STEPS", "25,5,100", "strictly increasing"),
        ("RELEASE_STEPS", "0,100", "percents 1..100"),
        ("RELEASE_STEPS", "5,,100", "comma-separated"),
        ("RELEASE_STEPS", "5,150", "ending at 100"),
        ("RELEASE_STEP_SECONDS", "-1", "seconds > 0"),
        ("RELEASE_STEP_SECONDS", "soon", "seconds > 0"),
        ("RELEASE_MIN_REQUESTS", "2.5", "integer >= 1"),
        ("RELEASE_MIN_REQUESTS", "0", "integer >= 1"),
        ("RELEASE_MAX_ERROR_RATE", "5", "fraction 0..1"),
        ("RELEASE_MAX_ERROR_RATE", "nan", "fraction 0..1"),
        ("RELEASE_MAX_P99_RATIO", "0.5", "ratio >= 1"),
        ("RELEASE_QUALITY_MARGIN", "-0.01", "a number >= 0 in the model's metric"),
        ("RELEASE_QUALITY_MARGIN", "inf", "a number >= 0 in the model's metric"),
        ("RELEASE_QUALITY_MARGIN", "two points", "a number >= 0 in the model's metric"),
        ("RELEASE_CONVERGE_SECONDS", "inf", "seconds > 0"),
        ("RELEASE_POLL_SECONDS", "0", "seconds > 0"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable_and_the_rule(
    variable: str, value: str, rule: str
) -> None:
    with pytest.raises(UsageError) as raised:
        ReleasePolicy.from_env({variable: value})

    message = str(raised.value)
    assert message.startswith(f"{variable}={value!r}: must be ")
    assert rule in message
    assert "\n" not in message


STATE = ReleaseState(
    release_id="r-20261123T231500Z-7",
    strategy="canary",
    phase="releasing",
    alias="B",
    candidate="7",
    before=Before({"A": "3", "B": None}, Routing("A", 10, 90), "exp-1"),
    routing=Routing("A", 25, None),
    experiment_id=None,
    updated_at="2026-11-23T23:15:00+00:00",
)


def test_the_state_round_trips_through_the_tag_in_the_contract_s_shape() -> None:
    raw = json.loads(STATE.to_json())

    assert raw == {
        "schema": 1,
        "release_id": "r-20261123T231500Z-7",
        "strategy": "canary",
        "phase": "releasing",
        "alias": "B",
        "candidate": "7",
        "live": "A",
        "canary_percent": 25,
        "ab_split_percent": None,
        "experiment_id": None,
        "before": {
            "A": "3",
            "B": None,
            "live": "A",
            "canary_percent": 10,
            "ab_split_percent": 90,
            "experiment_id": "exp-1",
        },
        "updated_at": "2026-11-23T23:15:00+00:00",
    }
    assert ReleaseState.from_json(STATE.to_json()) == STATE


def test_unknown_fields_are_ignored() -> None:
    raw = json.loads(STATE.to_json()) | {"added_later": {"x": 1}}

    assert ReleaseState.from_json(json.dumps(raw)) == STATE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"live": "C"}, "live must be A, B or null, not 'C'"),
        ({"canary_percent": 101}, "canary_percent must be an integer 0..100 or null, not 101"),
        ({"ab_split_percent": True}, "ab_split_percent must be an integer 0..100 or null, not True"),
        ({"phase": "paused"}, "phase must be one of releasing, released, promoted, stopped, rolled_back"),
        ({"candidate": None}, "candidate is missing"),
        ({"before": {"A": "3", "canary_percent": -1}}, "before.canary_percent must be an integer 0..100"),
        ({"schema": 2}, "has schema 2; this controller reads schema 1"),
    ],
)
def test_an_out_of_range_value_invalidates_the_whole_tag(change: dict[str, object], message: str) -> None:
    raw = json.loads(STATE.to_json()) | change

    with pytest.raises(StateError, match=r"serving\.release") as raised:
        ReleaseState.from_json(json.dumps(raw))
    assert message in str(raised.value)


def test_compare_and_set_decides_done_move_or_conflict() -> None:
    assert must_move("B", current="5", expected="5", new="7") is True
    assert must_move("B", current="7", expected="5", new="7") is False  # a retried move: already done
    assert must_move("B", current=None, expected=None, new="7") is True
    with pytest.raises(ConflictError) as raised:
        must_move("B", current="9", expected="5", new="7")
    assert str(raised.value) == (
        "@B is at v9, not v5 as this release expects (moved by someone else?): left at v9, not moved to v7"
    )
