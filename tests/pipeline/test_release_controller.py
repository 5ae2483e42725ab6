"""The release controller's step logic with a fake clock, a fake registry and simulated replicas.

The replicas' traffic is counted in real prometheus_client registries while the fake clock sleeps, so the
analysis parses real exposition text; nothing here waits for real time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from mlpipeline.release.controller import ReleaseController
from mlpipeline.release.errors import UsageError
from mlpipeline.release.policy import ReleasePolicy
from tests.pipeline.release_fakes import (
    START,
    Behaviour,
    Crash,
    FakeClock,
    FakeFleet,
    FakeRegistry,
    experiment_body,
)

POLICY = ReleasePolicy(steps=(5, 25, 50, 100), step_seconds=60, min_requests=50, converge_seconds=10)
OLD_A, OLD_B, CANDIDATE = "3", "5", "7"


@dataclass
class Rig:
    registry: FakeRegistry
    fleet: FakeFleet
    clock: FakeClock
    controller: ReleaseController
    reported: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.reported)


def rig(mode: str, *, rate: int = 50, policy: ReleasePolicy = POLICY) -> Rig:
    registry = FakeRegistry({"A": OLD_A, "B": OLD_B})
    clock = FakeClock()
    fleet = FakeFleet(registry, clock, mode=mode, rate=rate)
    reported: list[str] = []
    controller = ReleaseController(registry, fleet, clock, policy, reported.append)
    return Rig(registry, fleet, clock, controller, reported)


def served(r: Rig, alias: str) -> set[str | None]:
    return {replica.versions[alias] for replica in r.fleet.replicas}


# ----------------------------------------------------------------------------------------------- canary


def test_canary_steps_through_every_weight_then_promotes() -> None:
    r = rig("canary")

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 0, r.text()
    weights = [event[3] for event in r.registry.states()]
    assert weights == ["0", "5", "25", "50", "100", "0", "0"]
    assert r.registry.aliases() == {"A": CANDIDATE, "B": CANDIDATE}
    assert outcome.state is not None
    assert outcome.state.phase == "promoted"
    assert outcome.state.before.versions == {"A": OLD_A, "B": OLD_B}
    assert outcome.state.before.routing.canary_percent == 10
    assert served(r, "A") == served(r, "B") == {CANDIDATE}
    for step in (5, 25, 50, 100):
        assert f"canary {step}%: gates passed" in r.text()
    assert outcome.lines == tuple(r.reported)


def test_canary_weight_is_zero_everywhere_before_b_moves() -> None:
    r = rig("canary")

    r.controller.release(CANDIDATE)

    first_move = r.registry.events.index(("move", "B", CANDIDATE))
    assert r.registry.events[:first_move] == [("state", "releasing", "A", "0")]


def test_a_bad_canary_fails_the_error_gate_at_the_first_step_and_is_rolled_back() -> None:
    r = rig("canary")
    r.fleet.behaviours[CANDIDATE] = Behaviour(error_fraction=0.2)

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "canary 5%: error_rate FAILED: B 5xx 20.00%" in r.text()
    assert "canary 25%" not in r.text()
    # Weight 0 first, then @B back, then the routing values from before the release.
    tail = r.registry.events[r.registry.events.index(("state", "stopped", "A", "0")) :]
    assert tail == [
        ("state", "stopped", "A", "0"),
        ("move", "B", OLD_B),
        ("state", "rolled_back", "A", "10"),
    ]
    assert r.registry.aliases() == {"A": OLD_A, "B": OLD_B}
    assert served(r, "B") == {OLD_B}
    assert outcome.state is not None
    assert outcome.state.phase == "rolled_back"


def test_too_few_requests_when_the_step_times_out_is_not_a_pass() -> None:
    r = rig("canary", rate=10, policy=replace(POLICY, min_requests=100))

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "canary 5% analysed over 60 s: @B 60 requests" in r.text()
    assert "min_requests FAILED: B served 60 requests, at least 100 needed" in r.text()
    assert r.registry.aliases()["B"] == OLD_B


def test_a_slow_canary_fails_the_p99_gate() -> None:
    r = rig("canary")
    r.fleet.behaviours[CANDIDATE] = Behaviour(latency=0.2)
    r.fleet.behaviours[OLD_A] = Behaviour(latency=0.02)

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "p99 FAILED: B 248.5 ms vs A 24.9 ms: at most 1.5 x A = 37.3 ms" in r.text()


def test_fast_variants_pass_the_p99_gate_whatever_their_ratio() -> None:
    r = rig("canary")
    r.fleet.behaviours[CANDIDATE] = Behaviour(latency=0.008)
    r.fleet.behaviours[OLD_A] = Behaviour(latency=0.0008)

    assert r.controller.release(CANDIDATE).exit_code == 0, r.text()


def test_requests_for_b_served_by_a_fail_the_fallback_gate() -> None:
    r = rig("canary")
    r.fleet.replicas[1].b_missing = True

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "fallbacks FAILED: 50 requests that wanted B were served by A" in r.text()


def test_a_canary_worse_than_a_on_labels_fails_the_quality_gate_and_is_rolled_back() -> None:
    r = rig("canary", policy=replace(POLICY, quality_margin=0.02))
    r.fleet.experiment_answer = lambda _since: experiment_body(120, 40, (-0.2, -0.3, -0.1))

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert (
        "canary 5%: quality FAILED: accuracy B vs A -0.2 (interval -0.3 to -0.1, below 0: B worse; "
        "A 120, B 40 labelled in the window): B is worse than A by more than 0.02"
    ) in r.text()
    assert "error_rate FAILED" not in r.text()  # the quality gate alone stopped it
    assert "canary 25%" not in r.text()
    tail = r.registry.events[r.registry.events.index(("state", "stopped", "A", "0")) :]
    assert tail == [("state", "stopped", "A", "0"), ("move", "B", OLD_B), ("state", "rolled_back", "A", "10")]
    assert r.registry.aliases() == {"A": OLD_A, "B": OLD_B}
    assert served(r, "B") == {OLD_B}


def test_a_canary_worse_only_within_the_margin_passes_the_quality_gate() -> None:
    r = rig("canary", policy=replace(POLICY, quality_margin=0.05))
    # B is worse with confidence (the interval is below 0), but by no more than the margin.
    r.fleet.experiment_answer = lambda _since: experiment_body(120, 40, (-0.03, -0.049, -0.01))

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 0, r.text()
    for step in (5, 25, 50, 100):
        assert re.search(
            rf"canary {step}%: gates passed \(.*quality passed: accuracy B vs A -0.03 "
            r".*not worse than A by more than 0.05\)",
            r.text(),
        ), r.text()


def test_without_labels_the_quality_gate_passes_and_says_so() -> None:
    r = rig("canary")

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 0, r.text()
    assert "quality passed: no labels in the window to compare (A 0, B 0 labelled)" in r.text()


def test_an_unreadable_experiment_fails_the_quality_gate_and_is_rolled_back() -> None:
    r = rig("canary")
    # An app without GET /experiment (an older image) cannot show that B is no worse: no pass.
    r.fleet.experiment_failure = "http://replica-1: GET /experiment: HTTP 404 Not Found"

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert (
        "canary 5%: quality FAILED: cannot read GET /experiment: http://replica-1: GET /experiment: "
        "HTTP 404 Not Found"
    ) in r.text()
    assert r.registry.aliases() == {"A": OLD_A, "B": OLD_B}
    assert outcome.lines[-1].startswith("rolled back: ")


def test_the_quality_gate_reads_each_window_and_without_labels_on_a_looks_since_the_first_step() -> None:
    r = rig("canary")
    # The app's answer by window start: @A's labels are all from the first window (as at 100 %, when @A
    # serves nobody), so later windows have none of its labels in them.
    r.fleet.experiment_answer = lambda since: (
        experiment_body(100, 30, (0.01, -0.05, 0.07)) if since == START else experiment_body(0, 30)
    )

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 0, r.text()
    # One read per window from the window's start (the fake clock moves only while a window is open), and
    # a second one from the first step's start when @A has no labels in the window.
    elapsed = [int(s) for s in re.findall(r"analysed over (\d+) s", r.text())]
    starts = [START + timedelta(seconds=sum(elapsed[:i])) for i in range(len(elapsed))]
    assert starts[0] == START
    assert r.fleet.experiment_since == [starts[0], starts[1], START, starts[2], START, starts[3], START]
    assert "A 100, B 30 labelled in the window): not worse than A by more than 0.02" in r.text()
    assert "A 100, B 30 labelled since the first step): not worse than A by more than 0.02" in r.text()


def test_canary_takes_only_alias_b() -> None:
    r = rig("canary")

    outcome = r.controller.release(CANDIDATE, alias="A")

    assert outcome.exit_code == 2
    assert outcome.lines == (
        "usage: ALIAS=A: a canary release loads the candidate on @B (it promotes to @A)",
    )
    assert r.registry.events == []


# ------------------------------------------------------------------------------------------- blue-green


def test_blue_green_loads_the_idle_colour_checks_every_replica_then_switches() -> None:
    r = rig("blue_green")

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 0, r.text()
    assert r.registry.aliases() == {"A": OLD_A, "B": CANDIDATE}
    assert r.fleet.predicted == [("http://replica-1", CANDIDATE), ("http://replica-2", CANDIDATE)]
    assert [event[1:3] for event in r.registry.states()] == [
        ("releasing", "A"),
        ("releasing", "B"),
        ("released", "B"),
    ]
    assert {replica.view().live for replica in r.fleet.replicas} == {"B"}


def test_blue_green_rollback_switches_back_first_then_restores_the_idle_colour() -> None:
    r = rig("blue_green")
    r.controller.release(CANDIDATE)
    released = len(r.registry.events)

    outcome = r.controller.rollback()

    assert outcome.exit_code == 0, r.text()
    assert r.registry.events[released:] == [
        ("state", "stopped", "A", "10"),
        ("move", "B", OLD_B),
        ("state", "rolled_back", "A", "10"),
    ]
    assert {replica.view().live for replica in r.fleet.replicas} == {"A"}
    assert served(r, "B") == {OLD_B}


def test_blue_green_never_releases_to_the_live_colour() -> None:
    r = rig("blue_green")

    outcome = r.controller.release(CANDIDATE, alias="A")

    assert outcome.exit_code == 2
    assert "ALIAS=A is the live colour; blue-green releases to the idle colour B" in outcome.lines[0]
    assert r.registry.events == []


def test_a_candidate_that_fails_its_check_is_never_switched_to() -> None:
    r = rig("blue_green")
    r.fleet.behaviours[CANDIDATE] = Behaviour(predict_ok=False)

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "check on @B: http://replica-1: FAILED (HTTP 500 boom)" in r.text()
    assert all(event[2] == "A" for event in r.registry.states())
    assert r.registry.aliases()["B"] == OLD_B


def test_a_version_without_an_input_example_is_not_released() -> None:
    r = rig("blue_green")
    r.registry.examples[CANDIDATE] = None

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "nothing moved" in outcome.lines[-1]
    assert r.registry.events == []


# -------------------------------------------------------------------------------------------- A/B test


def test_ab_release_loads_b_fleet_wide_under_a_new_experiment() -> None:
    r = rig("ab_test")

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 0, r.text()
    assert outcome.state is not None
    assert outcome.state.experiment_id == outcome.state.release_id == "r-20261123T231500Z-7"
    assert r.registry.aliases() == {"A": OLD_A, "B": CANDIDATE}
    assert {replica.view().experiment_id for replica in r.fleet.replicas} == {outcome.state.release_id}


# ---------------------------------------------------------------------------------- A/B conclusion


def ab_released(alias: str = "B") -> Rig:
    """An A/B release of the candidate on ``alias``, done; GET /experiment answers its experiment."""
    r = rig("ab_test")
    assert r.controller.release(CANDIDATE, alias=alias).exit_code == 0, r.text()
    r.reported.clear()
    return r


def verdict(r: Rig, result: str, difference: tuple[float, float, float] | None, **fields: object) -> None:
    """The app's whole-experiment answer: this release's experiment with ``result`` (``fields`` override)."""
    state = r.registry.read_state()
    assert state is not None
    body = experiment_body(120, 40, difference, result=result, experiment_id=str(state.experiment_id))
    body["verdict"].update(fields.pop("verdict", {}))
    body.update(fields)
    r.fleet.experiment_answer = lambda _since: body


def test_a_b_better_verdict_promotes_the_candidate_on_b_to_a_fleet_wide() -> None:
    r = ab_released("B")
    verdict(r, "B_better", (0.12, 0.05, 0.19))
    released = len(r.registry.events)

    outcome = r.controller.conclude()

    assert outcome.exit_code == 0, r.text()
    assert r.fleet.experiment_since == [None]  # the whole experiment, no window
    assert r.registry.events[released:] == [("move", "A", CANDIDATE), ("state", "promoted", "A", "10")]
    assert r.registry.aliases() == {"A": CANDIDATE, "B": CANDIDATE}
    assert served(r, "A") == served(r, "B") == {CANDIDATE}
    assert {replica.view().phase for replica in r.fleet.replicas} == {"promoted"}
    assert outcome.lines == (
        "experiment r-20261123T231500Z-7: B_better, accuracy B vs A +0.12 (interval +0.05 to +0.19), "
        "A 120 / B 40 labelled",
        f"@A moved v7 (was v{OLD_A})",
        "concluded: the candidate v7 on @B won (B_better): promoted, @A serves it on every replica",
    )


def test_a_candidate_on_a_wins_on_a_b_worse_verdict_and_nothing_moves() -> None:
    r = ab_released("A")
    assert r.registry.aliases() == {"A": CANDIDATE, "B": OLD_B}
    verdict(r, "B_worse", (-0.12, -0.19, -0.05))
    released = len(r.registry.events)

    outcome = r.controller.conclude()

    assert outcome.exit_code == 0, r.text()
    assert r.registry.events[released:] == [("state", "promoted", "A", "10")]
    assert r.registry.aliases() == {"A": CANDIDATE, "B": OLD_B}
    assert outcome.lines[-1] == (
        "concluded: the candidate v7 on @A won (B_worse): promoted, @A serves it on every replica"
    )


@pytest.mark.parametrize(
    ("alias", "result", "difference"),
    [("B", "B_worse", (-0.12, -0.19, -0.05)), ("A", "B_better", (0.12, 0.05, 0.19))],
)
def test_a_losing_candidate_is_rolled_back_exactly_as_rollback_does_and_the_process_succeeds(
    alias: str, result: str, difference: tuple[float, float, float]
) -> None:
    r = ab_released(alias)
    verdict(r, result, difference)
    released = len(r.registry.events)
    twin = ab_released(alias)  # the same release, undone by make rollback instead

    outcome = r.controller.conclude()
    rolled_back = twin.controller.rollback()

    assert outcome.exit_code == 0, r.text()
    assert r.registry.events[released:] == twin.registry.events[released:]
    assert r.registry.tag == twin.registry.tag
    assert r.registry.aliases() == {"A": OLD_A, "B": OLD_B}
    assert served(r, alias) == {OLD_A if alias == "A" else OLD_B}
    assert outcome.state is not None
    assert (outcome.state.phase, outcome.state.experiment_id) == ("rolled_back", None)
    assert outcome.lines[1:-1] == rolled_back.lines
    assert outcome.lines[0].startswith(f"experiment r-20261123T231500Z-7: {result}, accuracy B vs A ")
    assert outcome.lines[-1] == f"concluded: the candidate v7 on @{alias} lost ({result}): rolled back"


@pytest.mark.parametrize(
    ("a", "b", "difference", "needed", "expected"),
    [
        (
            120,
            40,
            (-0.01, -0.08, 0.06),
            1234,
            "accuracy B vs A -0.01 (interval -0.08 to +0.06), A 120 / B 40 "
            "labelled; about 1234 more labels needed",
        ),
        (0, 0, None, None, "no interval yet, A 0 / B 0 labelled; no labels yet"),
    ],
)
def test_an_inconclusive_verdict_changes_nothing_and_says_how_many_labels_are_still_needed(
    a: int, b: int, difference: tuple[float, float, float] | None, needed: int | None, expected: str
) -> None:
    r = ab_released("B")
    state = r.registry.read_state()
    assert state is not None
    r.fleet.experiment_answer = lambda _since: experiment_body(
        a, b, difference, labels_needed=needed, experiment_id=str(state.experiment_id)
    )
    events, tag = list(r.registry.events), r.registry.tag

    outcome = r.controller.conclude()

    assert outcome.exit_code == 1
    assert outcome.lines == (
        f"not concluded, nothing changed: experiment r-20261123T231500Z-7: inconclusive, {expected}",
    )
    assert (r.registry.events, r.registry.tag) == (events, tag)


def test_a_verdict_for_another_experiment_changes_nothing() -> None:
    r = ab_released("B")
    verdict(r, "B_worse", (-0.12, -0.19, -0.05), experiment_id="")  # a replica still on the settings' id
    events = list(r.registry.events)

    outcome = r.controller.conclude()

    assert outcome.exit_code == 1
    assert outcome.lines == (
        "http://replica-1 reports experiment '', not release r-20261123T231500Z-7's 'r-20261123T231500Z-7' "
        "(a replica not on this release's experiment), nothing changed: make release-status",
    )
    assert r.registry.events == events


@pytest.mark.parametrize(
    ("failure", "fields", "expected"),
    [
        ("http://replica-1: GET /experiment: HTTP 404 Not Found", {}, "HTTP 404 Not Found"),
        (None, {"verdict": {"result": "B_wins"}}, "verdict.result is 'B_wins', not one of B_better"),
        (None, {"verdict": {"labels_needed": -3}}, "verdict.labels_needed is -3, not null or a count"),
        (None, {"experiment_id": None}, "experiment_id is None, not a string"),
    ],
)
def test_an_unreadable_report_changes_nothing(
    failure: str | None, fields: dict[str, object], expected: str
) -> None:
    r = ab_released("B")
    verdict(r, "B_better", (0.12, 0.05, 0.19), **fields)
    r.fleet.experiment_failure = failure
    events = list(r.registry.events)

    outcome = r.controller.conclude()

    assert outcome.exit_code == 1
    [line] = outcome.lines
    assert line.startswith("cannot read GET /experiment, nothing changed: ")
    assert expected in line
    assert r.registry.events == events


def test_only_a_released_ab_test_can_be_concluded() -> None:
    r = rig("canary")
    assert r.controller.conclude().lines == (
        "usage: no release recorded for best_model: nothing to conclude",
    )
    r.controller.release(CANDIDATE)
    events = list(r.registry.events)

    outcome = r.controller.conclude()

    assert outcome.exit_code == 2
    assert outcome.lines == (
        "usage: the last release r-20261123T231500Z-7 is canary promoted: nothing to conclude",
    )
    assert r.registry.events == events
    assert None not in r.fleet.experiment_since  # the experiment was never read to conclude


@pytest.mark.parametrize("first", ["rollback", "conclude"])
def test_an_ab_release_rolled_back_or_concluded_already_is_not_concluded_again(first: str) -> None:
    r = ab_released("B")
    verdict(r, "B_better", (0.12, 0.05, 0.19))
    assert getattr(r.controller, first)().exit_code == 0
    phase = "rolled_back" if first == "rollback" else "promoted"
    events = list(r.registry.events)

    outcome = r.controller.conclude()

    assert outcome.exit_code == 2
    assert outcome.lines == (
        f"usage: the last release r-20261123T231500Z-7 is ab_test {phase}: nothing to conclude",
    )
    assert r.registry.events == events


def test_a_candidate_moved_off_its_alias_by_hand_is_not_concluded() -> None:
    r = ab_released("B")
    verdict(r, "B_better", (0.12, 0.05, 0.19))
    r.registry.manual_move("B", "9")
    events = list(r.registry.events)

    outcome = r.controller.conclude()

    assert outcome.exit_code == 1
    assert outcome.lines == ("@B is at v9, not the release's v7: changed by someone else, nothing changed",)
    assert r.registry.events == events


def test_a_manual_move_of_a_during_the_experiment_is_never_overwritten_by_the_promotion() -> None:
    r = ab_released("B")
    verdict(r, "B_better", (0.12, 0.05, 0.19))
    r.registry.manual_move("A", "9")

    outcome = r.controller.conclude()

    assert outcome.exit_code == 1
    assert outcome.lines[-1].startswith(
        "the candidate v7 on @B won (B_better) but is not promoted: "
        "@A is at v9, not v3 as this release expects"
    )
    assert r.registry.aliases() == {"A": "9", "B": CANDIDATE}
    state = r.registry.read_state()
    assert state is not None
    assert state.phase == "released"


def test_a_promotion_that_did_not_converge_completes_when_concluded_again_and_rolls_back_whole() -> None:
    r = ab_released("B")
    verdict(r, "B_better", (0.12, 0.05, 0.19))
    r.fleet.replicas[1].frozen = True

    stuck = r.controller.conclude()
    r.fleet.replicas[1].frozen = False
    again = r.controller.conclude()
    rolled_back = r.controller.rollback()

    assert stuck.exit_code == 1
    assert "but is not promoted: replicas did not converge in 10 s: http://replica-2" in stuck.lines[-1]
    assert "make conclude again (or make rollback)" in stuck.lines[-1]
    assert again.exit_code == 0, r.text()
    assert "@A already v7" in again.lines
    # A concluded A/B release on @B moved @A as well: a rollback puts both back.
    assert rolled_back.exit_code == 0, r.text()
    assert r.registry.aliases() == {"A": OLD_A, "B": OLD_B}
    assert served(r, "A") == {OLD_A}


# -------------------------------------------------------------------------------------------- rollback


def test_rollback_twice_is_rollback_once() -> None:
    r = rig("canary")
    r.controller.release(CANDIDATE)
    first = r.controller.rollback()
    events = list(r.registry.events)

    second = r.controller.rollback()

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert r.registry.events == events
    assert second.lines[0].startswith("nothing to roll back: release r-20261123T231500Z-7 of v7")
    assert r.registry.aliases() == {"A": OLD_A, "B": OLD_B}


def test_rollback_of_a_version_never_released_leaves_the_last_release_alone() -> None:
    r = rig("canary")
    r.controller.release(CANDIDATE)
    events = list(r.registry.events)

    outcome = r.controller.rollback(release_of="8")  # a DAG run that failed before its release began

    assert outcome.exit_code == 0
    assert outcome.lines[0].startswith("nothing to roll back: v8 was never released")
    assert r.registry.events == events
    assert r.registry.aliases() == {"A": CANDIDATE, "B": CANDIDATE}


def test_rollback_without_a_release_is_a_usage_error() -> None:
    r = rig("canary")

    outcome = r.controller.rollback()

    assert outcome.exit_code == 2
    assert outcome.lines == ("usage: no release recorded for best_model: nothing to roll back",)


def test_rollback_restricted_to_one_alias_leaves_the_other() -> None:
    r = rig("canary")
    r.controller.release(CANDIDATE)

    outcome = r.controller.rollback(alias="A")

    assert outcome.exit_code == 0, r.text()
    assert r.registry.aliases() == {"A": OLD_A, "B": CANDIDATE}
    assert "@B left at v7 (ALIAS=A)" in r.text()


# --------------------------------------------------------------------------------- retries and races


def test_a_retried_release_resumes_with_the_original_before() -> None:
    r = rig("canary")
    r.registry.crash_when = lambda state: state.routing.canary_percent == 25
    with pytest.raises(Crash):
        r.controller.release(CANDIDATE)
    assert r.registry.aliases()["B"] == CANDIDATE  # the crash left @B moved

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 0, r.text()
    assert "resuming release r-20261123T231500Z-7 of v7" in outcome.lines[0]
    assert outcome.state is not None
    assert outcome.state.before.versions == {"A": OLD_A, "B": OLD_B}
    rollback = r.controller.rollback()
    assert rollback.exit_code == 0
    assert r.registry.aliases() == {"A": OLD_A, "B": OLD_B}


def test_another_candidate_while_a_release_is_unsettled_must_roll_back_first() -> None:
    r = rig("canary")
    r.registry.crash_when = lambda state: state.routing.canary_percent == 25
    with pytest.raises(Crash):
        r.controller.release(CANDIDATE)
    events = list(r.registry.events)

    outcome = r.controller.release("8")

    assert outcome.exit_code == 2
    assert "is releasing: roll it back first (make rollback)" in outcome.lines[0]
    assert r.registry.events == events


def test_a_manual_alias_move_during_a_run_is_never_overwritten() -> None:
    r = rig("canary")
    r.clock.listeners.append(
        lambda _seconds: r.registry.alias_versions.get("A") == OLD_A and r.registry.manual_move("A", "9")
    )

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "@A is at v9, not v3 as this release expects" in r.text()
    assert "@A is at v9, not the release's v7: changed by someone else, left as is" in r.text()
    assert r.registry.aliases() == {"A": "9", "B": OLD_B}
    assert ("move", "A", CANDIDATE) not in r.registry.events


# ----------------------------------------------------------------------------------- fleet agreement


def test_an_unreachable_replica_stops_a_release_before_anything_moves() -> None:
    r = rig("canary")
    r.fleet.replicas[1].reachable = False

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "http://replica-1: mode=canary" in outcome.lines[0]
    assert "http://replica-2: FAILED (unreachable: ConnectError)" in outcome.lines[0]
    assert r.registry.events == []


def test_replicas_in_different_modes_stop_a_release_before_anything_moves() -> None:
    r = rig("canary")
    r.fleet.replicas[0].mode = "blue_green"

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "replicas disagree on mode or routing" in outcome.lines[0]
    assert r.registry.events == []


def test_a_replica_that_does_not_converge_is_named_and_the_release_rolled_back() -> None:
    r = rig("canary")
    r.fleet.replicas[1].frozen = True

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert "replicas did not converge in 10 s: http://replica-2: release_id=None" in r.text()
    assert "rollback incomplete" in outcome.lines[-1]
    assert r.registry.aliases() == {"A": OLD_A, "B": OLD_B}


TOKEN_REJECTED = (
    "reload token rejected by replica http://replica-2 (POST /release/sync: HTTP 403 x-token is not valid): "
    "the pipeline's RELOAD_SECRET_TOKEN is not the app's"
)


def test_a_replica_refusing_the_token_stops_the_release_in_one_line_before_anything_moves() -> None:
    r = rig("canary")
    r.fleet.replicas[1].rejects_token = True

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert outcome.lines == (f"release of v7 not started, nothing moved: {TOKEN_REJECTED}",)
    assert r.registry.events == []


def test_a_token_refused_mid_release_stops_at_once_and_the_aliases_are_restored() -> None:
    r = rig("canary")
    # The replica restarts mid-canary with another Secret's token (the clock ticks during the first step).
    r.clock.listeners.append(lambda _seconds: setattr(r.fleet.replicas[1], "rejects_token", True))

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 1
    assert f"stopped: {TOKEN_REJECTED}" in r.text()
    assert "did not converge" not in r.text()  # no retry while waiting: a wrong token never becomes right
    assert outcome.lines[-1].endswith(TOKEN_REJECTED)
    assert r.registry.aliases() == {"A": OLD_A, "B": OLD_B}
    state = r.registry.read_state()
    assert state is not None
    assert state.phase == "rolled_back"
    assert served(r, "B") == {OLD_B, CANDIDATE}  # replica-1 followed the rollback; replica-2 refused both


def test_status_lists_every_replica_and_whether_they_agree() -> None:
    r = rig("canary")
    r.controller.release(CANDIDATE)
    r.fleet.replicas[0].reachable = False

    report = r.controller.status()

    assert report.state is not None
    assert report.state.phase == "promoted"
    assert not report.agree
    lines = report.lines()
    assert lines[0].startswith("best_model: release r-20261123T231500Z-7 of v7 on @B (canary) is promoted")
    assert lines[1] == "http://replica-1: FAILED (unreachable: ConnectError)"
    assert lines[2].startswith("http://replica-2: mode=canary live=A canary=0% ab_split=90% @A=v7 @B=v7")
    assert lines[-1] == "replicas DISAGREE or are unreachable"


def test_a_missing_token_is_a_usage_error() -> None:
    r = rig("canary")
    r.fleet.token_problem = "RELOAD_SECRET_TOKEN is not set"

    assert r.controller.release(CANDIDATE).exit_code == 2
    assert r.registry.events == []


# ------------------------------------------------------------------------------------------- from_env


def test_from_env_needs_the_registry_and_the_replicas() -> None:
    with pytest.raises(UsageError, match="MLFLOW_TRACKING_URI is not set"):
        ReleaseController.from_env({"SERVING_REPLICAS": "http://127.0.0.1:1"}, print)
    with pytest.raises(UsageError, match="SERVING_REPLICAS is not set"):
        ReleaseController.from_env({"MLFLOW_TRACKING_URI": "http://127.0.0.1:1"}, print)
    with pytest.raises(UsageError, match="RELEASE_STEPS="):
        ReleaseController.from_env(
            {"MLFLOW_TRACKING_URI": "x", "SERVING_REPLICAS": "y", "RELEASE_STEPS": "5"}, print
        )


def test_from_env_builds_a_controller_whose_status_names_the_model() -> None:
    env = {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:1",
        "SERVING_REPLICAS": "http://127.0.0.1:1",
        "MODEL_NAME": "m",
    }

    controller = ReleaseController.from_env(env, print)

    assert controller.rollback(alias="C").lines == ("usage: ALIAS must be A or B, not 'C'",)


@pytest.mark.parametrize(
    ("version", "alias", "expected"),
    [
        ("latest", None, "usage: MODEL_VERSION must be a version number, not 'latest'"),
        ("7", "C", "usage: ALIAS must be A or B, not 'C'"),
    ],
)
def test_a_bad_request_is_refused_before_the_registry_is_read(
    version: str, alias: str | None, expected: str
) -> None:
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:1", "SERVING_REPLICAS": "http://127.0.0.1:1"}
    controller = ReleaseController.from_env(env, print)  # nothing listens there: a read would fail

    outcome = controller.release(version, alias)

    assert (outcome.exit_code, outcome.lines) == (2, (expected,))


def test_releasing_a_released_version_again_is_a_no_op() -> None:
    r = rig("canary")
    r.controller.release(CANDIDATE)
    events = list(r.registry.events)

    outcome = r.controller.release(CANDIDATE)

    assert outcome.exit_code == 0
    assert outcome.lines[0].startswith("already released, nothing to do: release r-20261123T231500Z-7 of v7")
    assert r.registry.events == events
