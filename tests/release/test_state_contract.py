"""The release state is written by the controller (Airflow image) and read by the app (serving image): two
code bases that cannot import each other. This holds them to one contract — the tag name, every field the
controller writes, and the values the app then routes on."""

from __future__ import annotations

import json

import pytest

from mlpipeline.release import state as written
from serving.config import Settings
from serving.inference import release as read
from serving.repository.registry import RELEASE_TAG

SETTINGS = Settings(mlflow_tracking_uri="http://mlflow", default_alias="A", canary_percent=10)


def state(**routing: object) -> written.ReleaseState:
    before = written.Before({"A": "3", "B": None}, written.Routing("A", 10, 90), "exp-0")
    return written.ReleaseState(
        release_id="r-1",
        strategy="canary",
        phase="releasing",
        alias="B",
        candidate="7",
        before=before,
        routing=written.Routing(**routing),
        experiment_id="exp-1",
        updated_at="2026-11-23T23:15:00+00:00",
    )


def test_both_sides_name_the_same_tag() -> None:
    assert written.TAG == RELEASE_TAG


def test_the_app_knows_every_field_the_controller_writes() -> None:
    fields = set(json.loads(state().to_json()))
    known = {field.alias or name for name, field in read.ReleaseState.model_fields.items()}
    assert fields <= known, fields - known
    before = set(json.loads(state().to_json())["before"])
    # ``before.experiment_id`` is the controller's own bookkeeping; the app does not route on ``before``.
    assert before - {"experiment_id"} <= set(read.Before.model_fields)


@pytest.mark.parametrize(
    "routing",
    [
        {},
        {"live": "B"},
        {"live": "A", "canary_percent": 0},
        {"live": "A", "canary_percent": 25, "ab_split_percent": 90},
        {"canary_percent": 100},
    ],
)
def test_what_the_controller_writes_the_app_routes_on(routing: dict[str, object]) -> None:
    written_state = state(**routing)

    parsed = read.parse_state(written_state.to_json())
    effective = read.effective(SETTINGS, parsed)

    assert parsed is not None
    assert (parsed.release_id, parsed.phase, parsed.candidate) == ("r-1", "releasing", "7")
    assert effective.live == routing.get("live", SETTINGS.default_alias)
    assert effective.canary_percent == routing.get("canary_percent", SETTINGS.canary_percent)
    assert effective.ab_split_percent == routing.get("ab_split_percent", SETTINGS.ab_split_percent)
    assert effective.experiment_id == "exp-1"
    for name in ("live", "canary_percent", "ab_split_percent"):
        assert effective.sources[name] == (read.RELEASE_STATE if name in routing else read.SETTINGS)


def test_a_state_the_controller_refuses_to_write_the_app_refuses_to_read() -> None:
    with pytest.raises(written.StateError):
        written.Routing(live="C")
    with pytest.raises(read.ReleaseStateError):
        read.parse_state(state().to_json().replace('"alias":"B"', '"alias":"C"'))
