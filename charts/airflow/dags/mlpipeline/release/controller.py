"""The release controller: release, rollback and status, as fleet-wide operations on the release state.

The state lives in the registry (:mod:`mlpipeline.release.state`); every replica converges on it through
``POST /release/sync`` (and its own watcher). The rules that make a run safe to retry and to crash anywhere:

- ``before`` (both aliases' versions, the routing values) is written with phase ``releasing`` before anything
  moves; a re-run of the same release resumes and keeps it; rollback reads it from the registry, never from
  the caller's memory.
- Aliases move only by compare-and-set: from the version the release expects, so a manual move made during
  a run is never overwritten (:class:`ConflictError`; the release stops and rolls back what it changed).
- After every state write or alias move, every replica must report the expected values (versions, routing,
  release id, phase) within ``RELEASE_CONVERGE_SECONDS``; a failure names each replica that disagrees.

Every step is one line to ``report`` (the caller prints it or sends it to Slack) and in the outcome's lines.
Exit codes: 0 released (or nothing to do), 1 stopped and rolled back or could not complete, 2 usage error;
``conclude`` has its own reading of 0 and 1 (see there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlpipeline.registry import READY, RegistryError
from mlpipeline.release import analysis
from mlpipeline.release.errors import ConflictError, UsageError
from mlpipeline.release.fleet import HttpFleet
from mlpipeline.release.mlflow_store import MlflowStore
from mlpipeline.release.policy import ReleasePolicy
from mlpipeline.release.ports import Clock, ExperimentView, Fleet, RegistryStore, ReplicaView, SystemClock
from mlpipeline.release.state import (
    ALIASES,
    STRATEGIES,
    Before,
    ReleaseState,
    Routing,
    StateError,
    version_label,
)
from mlpipeline.replicas import DiscoveryError

DEFAULT_MODEL_NAME = "best_model"
Report = Callable[[str], None]


class Stopped(RuntimeError):
    """A step failed; the release stops and rolls back. The message is the line that says why."""


# What stops a release: its own checks, a moved alias, the registry or the replicas unreachable.
STOPPING = (Stopped, ConflictError, RegistryError, DiscoveryError)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    lines: tuple[str, ...]
    state: ReleaseState | None


@dataclass(frozen=True)
class StatusReport:
    model_name: str
    state: ReleaseState | None
    state_error: str | None
    replicas: tuple[ReplicaView, ...]
    problems: tuple[str, ...] = field(default=())  # replicas that could not be found at all

    @property
    def agree(self) -> bool:
        """Every replica answered and all report the same effective state."""
        views = self.replicas
        return bool(views) and all(view.ok for view in views) and len({v.effective() for v in views}) == 1

    def lines(self) -> list[str]:
        if self.state_error:
            head = f"{self.model_name}: release state unreadable: {self.state_error}"
        elif self.state is None:
            head = f"{self.model_name}: no release recorded"
        else:
            head = f"{self.model_name}: {_describe(self.state)}"
        verdict = "all replicas agree" if self.agree else "replicas DISAGREE or are unreachable"
        return [head, *(view.line() for view in self.replicas), *self.problems, verdict]


def _before(before: Before) -> str:
    versions = " ".join(f"@{alias}={version_label(before.version(alias))}" for alias in ALIASES)
    return f"{versions} {before.routing.describe()}"


def _check_request(version: str, alias: str | None) -> None:
    if alias is not None and alias not in ALIASES:
        raise UsageError(f"ALIAS must be A or B, not {alias!r}")
    if not version.isdigit():
        raise UsageError(f"MODEL_VERSION must be a version number, not {version!r}")


def _describe(state: ReleaseState) -> str:
    return (
        f"release {state.release_id} of v{state.candidate} on @{state.alias} ({state.strategy}) "
        f"is {state.phase}; {state.routing.describe()}; before: {_before(state.before)}"
    )


def _experiment_line(experiment: ExperimentView) -> str:
    """The verdict with its interval and the labels behind it, in one line."""
    verdict, difference = experiment.verdict, experiment.difference
    result = verdict.result if verdict else "no verdict"
    interval = (
        "no interval yet"
        if difference is None
        else f"{experiment.metric} B vs A {difference.estimate:+.4g} "
        f"(interval {difference.lower:+.4g} to {difference.upper:+.4g})"
    )
    return f"{result}, {interval}, A {experiment.a_labelled} / B {experiment.b_labelled} labelled"


def _still_needed(experiment: ExperimentView) -> str:
    needed = experiment.verdict.labels_needed if experiment.verdict else None
    if needed is not None:
        return f"about {needed} more labels needed"
    if not experiment.a_labelled and not experiment.b_labelled:
        return "no labels yet"
    return "no estimate of the labels still needed"


def _window_line(name: str, window: analysis.VariantWindow) -> str:
    return f"{name} {window.requests:g} requests, 5xx {window.error_rate:.2%}, p99 {analysis.ms(window.p99)}"


class ReleaseController:
    def __init__(
        self, store: RegistryStore, fleet: Fleet, clock: Clock, policy: ReleasePolicy, report: Report
    ) -> None:
        self._store = store
        self._fleet = fleet
        self._clock = clock
        self._policy = policy
        self._report = report
        self._lines: list[str] = []

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], report: Report, *, defaults: ReleasePolicy | None = None
    ) -> ReleaseController:
        """MLFLOW_TRACKING_URI, MODEL_NAME, SERVING_REPLICAS, RELOAD_SECRET_TOKEN and the RELEASE_* policy."""
        policy = ReleasePolicy.from_env(environ, defaults)
        tracking_uri = environ.get("MLFLOW_TRACKING_URI", "").strip()
        if not tracking_uri:
            raise UsageError("MLFLOW_TRACKING_URI is not set: the release state lives in the registry")
        replicas = environ.get("SERVING_REPLICAS", "").strip()
        if not replicas:
            raise UsageError("SERVING_REPLICAS is not set: base URLs or dns+http://<headless-service>:<port>")
        model_name = environ.get("MODEL_NAME", "").strip() or DEFAULT_MODEL_NAME
        fleet = HttpFleet(replicas, environ.get("RELOAD_SECRET_TOKEN", ""))
        return cls(MlflowStore(tracking_uri, model_name), fleet, SystemClock(), policy, report)

    # ----------------------------------------------------------------------------------------- operations

    def release(self, version: str, alias: str | None = None) -> Outcome:
        """Release ``version`` with the fleet's strategy; ``alias`` narrows the target (see each strategy)."""
        self._lines = []
        version = str(version).strip()
        try:
            _check_request(version, alias)  # before any I/O: a bad request never reaches the registry
            done = self._already_released(version, alias)
            if done is not None:
                return self._finish(0, f"already released, nothing to do: {_describe(done)}", done)
            state = self._begin(version, alias)
        except UsageError as error:
            return self._finish(2, f"usage: {error}", None)
        except StateError as error:
            return self._finish(2, f"usage: {error}; fix or delete the tag", None)
        except STOPPING as error:
            return self._finish(1, f"release of v{version} not started, nothing moved: {error}", None)
        try:
            if state.strategy == "canary":
                state = self._canary(state)
            elif state.strategy == "blue_green":
                state = self._blue_green(state)
            else:
                state = self._ab_test(state)
        except STOPPING as error:
            self._say(f"release {state.release_id} of v{state.candidate} stopped: {error}")
            return self._stop_and_roll_back()
        return self._finish(0, f"released: {_describe(state)}", state)

    def rollback(self, alias: str | None = None, *, release_of: str | None = None) -> Outcome:
        """Undo the last release recorded in the registry; a second rollback is a no-op, never a toggle.

        ``release_of``: roll back only if the last release is of this version (a DAG run undoes its own
        release, never the previous run's when it failed before its release began).
        """
        self._lines = []
        if alias is not None and alias not in ALIASES:
            return self._finish(2, f"usage: ALIAS must be A or B, not {alias!r}", None)
        state = self._recorded_state()
        if isinstance(state, Outcome):
            return state
        if state is None and release_of is not None:
            return self._finish(0, f"nothing to roll back: v{release_of} was never released", None)
        if state is None:
            return self._finish(
                2, f"usage: no release recorded for {self._store.model_name}: nothing to roll back", None
            )
        if state.phase == "rolled_back":
            return self._finish(0, f"nothing to roll back: {_describe(state)}", state)
        if release_of is not None and state.candidate != release_of:
            return self._finish(
                0, f"nothing to roll back: v{release_of} was never released; last: {_describe(state)}", state
            )
        problem = self._fleet.sync_problem()
        if problem:
            return self._finish(2, f"usage: {problem}", state)
        changed = self._changed_aliases(state)
        if alias is not None and alias not in changed:
            return self._finish(
                2,
                f"usage: release {state.release_id} changed "
                f"{', '.join('@' + name for name in changed)}, not @{alias}",
                state,
            )
        return self._roll_back(state, (alias,) if alias else changed, success=0)

    def conclude(self) -> Outcome:
        """End the last release's A/B experiment on the app's verdict over the experiment's whole life.

        The candidate is on the release's alias; it wins when the verdict favours that side (``B_better`` with
        the candidate on @B, ``B_worse`` with it on @A) and loses in the opposite case. A winner on @B is
        promoted: @A moves to it by compare-and-set, every replica converges, phase ``promoted``; a winner on
        @A is already there, so only the phase changes. A loser is rolled back exactly as ``rollback`` does.
        Either way the experiment is concluded and the exit code is 0: a candidate that loses is an answer the
        process exists to give, not a failure of it. Exit 1, nothing changed: the verdict is inconclusive (the
        line says how many labels are still needed), the report cannot be read, it is of another experiment
        than the release's (a replica not on it), or the candidate is no longer on its alias. Exit 1 also when
        a promotion cannot complete (the line says what to run). Exit 2: no A/B release in phase ``released``.
        """
        self._lines = []
        state = self._recorded_state()
        if isinstance(state, Outcome):
            return state
        if state is None:
            return self._finish(
                2, f"usage: no release recorded for {self._store.model_name}: nothing to conclude", None
            )
        if state.strategy != "ab_test" or state.phase != "released":
            return self._finish(
                2,
                f"usage: the last release {state.release_id} is {state.strategy} {state.phase}: "
                "nothing to conclude",
                state,
            )
        problem = self._fleet.sync_problem()
        if problem:
            return self._finish(2, f"usage: {problem}", state)
        experiment = self._fleet.experiment()  # no since: the experiment over its whole life
        if not experiment.ok or experiment.verdict is None:
            return self._finish(
                1, f"cannot read GET /experiment, nothing changed: {experiment.detail}", state
            )
        reported = experiment.verdict.experiment_id
        if reported != state.experiment_id:
            return self._finish(
                1,
                f"{experiment.url} reports experiment {reported!r}, not release {state.release_id}'s "
                f"{state.experiment_id!r} (a replica not on this release's experiment), nothing changed: "
                "make release-status",
                state,
            )
        try:
            on_alias = self._store.aliases().get(state.alias)
        except RegistryError as error:
            return self._finish(1, f"cannot read the aliases, nothing changed: {error}", state)
        if on_alias != state.candidate:
            # The verdict would be about whatever served there since, not about this release's candidate.
            return self._finish(
                1,
                f"@{state.alias} is at {version_label(on_alias)}, not the release's v{state.candidate}: "
                "changed by someone else, nothing changed",
                state,
            )
        numbers = f"experiment {reported}: {_experiment_line(experiment)}"
        result = experiment.verdict.result
        if result == "inconclusive":
            return self._finish(
                1, f"not concluded, nothing changed: {numbers}; {_still_needed(experiment)}", state
            )
        self._say(numbers)
        candidate = f"the candidate v{state.candidate} on @{state.alias}"
        if (state.alias == "B") != (result == "B_better"):
            outcome = self._roll_back(state, self._changed_aliases(state), success=0)
            if outcome.exit_code != 0:
                return outcome
            return self._finish(0, f"concluded: {candidate} lost ({result}): rolled back", outcome.state)
        try:
            state = self._promote_winner(state)
        except STOPPING as error:
            return self._finish(
                1,
                f"{candidate} won ({result}) but is not promoted: {error}: make release-status, then "
                "make conclude again (or make rollback)",
                state,
            )
        return self._finish(
            0, f"concluded: {candidate} won ({result}): promoted, @A serves it on every replica", state
        )

    def status(self) -> StatusReport:
        """The release state and every replica's ``GET /release`` (unreachable ones listed, never hidden)."""
        state, state_error = None, None
        try:
            state = self._store.read_state()
        except (StateError, RegistryError) as error:
            state_error = str(error)
        try:
            views: tuple[ReplicaView, ...] = tuple(self._fleet.status_all())
            problems: tuple[str, ...] = ()
        except DiscoveryError as error:
            views, problems = (), (f"no replicas: {error}",)
        return StatusReport(self._store.model_name, state, state_error, views, problems)

    # ------------------------------------------------------------------------------------------- helpers

    def _recorded_state(self) -> ReleaseState | Outcome | None:
        """The last release recorded (None: none yet), or the outcome ending a command that cannot read it."""
        try:
            return self._store.read_state()
        except StateError as error:
            return self._finish(2, f"usage: {error}; fix or delete the tag", None)
        except RegistryError as error:
            return self._finish(1, f"cannot read the release state, nothing changed: {error}", None)

    def _say(self, line: str) -> None:
        self._lines.append(line)
        self._report(line)

    def _finish(self, code: int, line: str, state: ReleaseState | None) -> Outcome:
        self._say(line)
        return Outcome(code, tuple(self._lines), state)

    def _write(self, state: ReleaseState, **changes: Any) -> ReleaseState:
        state = state.evolve(**changes, updated_at=self._clock.now().isoformat(timespec="seconds"))
        self._store.write_state(state)
        return state

    def _move(self, alias: str, expected: str | None, new: str | None) -> None:
        moved = self._store.move_alias(alias, expected, new)
        action = "moved" if moved else "already"
        was = f" (was {version_label(expected)})" if moved else ""
        self._say(f"@{alias} {action} {version_label(new)}{was}")

    def _converge(
        self, state: ReleaseState, versions: Mapping[str, str | None], *, patient: bool = True
    ) -> None:
        """Sync every replica until each reports ``state``'s values and ``versions``, or the time runs out.

        ``patient=False`` syncs once: a rollback that already waited in vain for a replica does not wait again
        at each later step (the registry holds the rollback; a replica that comes back converges on it).
        """
        deadline = self._clock.monotonic() + (self._policy.converge_seconds if patient else 0.0)
        while True:
            try:
                views = self._fleet.sync_all()
                _stop_if_token_rejected(views)
                problems = [f"{v.url}: {why}" for v in views if (why := _disagreement(v, state, versions))]
            except DiscoveryError as error:
                views, problems = [], [str(error)]
            if views and not problems:
                return
            if self._clock.monotonic() >= deadline:
                raise Stopped(
                    "replicas did not converge"
                    + (f" in {self._policy.converge_seconds:g} s: " if patient else " (synced once): ")
                    + "; ".join(problems or ["no replicas found"])
                )
            self._clock.sleep(self._policy.poll_seconds)

    # --------------------------------------------------------------------------------------------- begin

    def _already_released(self, version: str, alias: str | None) -> ReleaseState | None:
        """The last release, when it released this very version (a retried DAG run after success)."""
        state = self._store.read_state()
        if state is None or state.phase not in ("released", "promoted") or state.candidate != version:
            return None
        return state if alias in (None, state.alias) else None

    def _begin(self, version: str, alias: str | None) -> ReleaseState:
        """Check the version and the fleet, then record the release (or find the one to resume)."""
        status = self._store.version_status(version)
        if status is None:
            raise UsageError(f"{self._store.model_name} has no version {version}")
        if status != READY:
            raise UsageError(f"{self._store.model_name} v{version} is {status}, not {READY}")
        problem = self._fleet.sync_problem()
        if problem:
            raise UsageError(problem)
        # A sync before anything is recorded: a replica refusing the token stops the release, nothing moved.
        _stop_if_token_rejected(self._fleet.sync_all())
        current = self._store.read_state()
        if current is not None and not current.settled:
            if (
                current.phase == "releasing"
                and current.candidate == version
                and alias in (None, current.alias)
            ):
                return self._resume(current)
            raise UsageError(
                f"release {current.release_id} of v{current.candidate} on @{current.alias} is "
                f"{current.phase}: roll it back first (make rollback)"
            )
        views = self._agreeing_fleet()
        mode = views[0].mode or ""
        if mode not in STRATEGIES:
            raise Stopped(f"the fleet reports mode {mode!r}, not one of {', '.join(STRATEGIES)}")
        first = views[0]
        target = self._target(mode, alias, first.live)
        if mode == "blue_green":
            self._example(version)  # a version that cannot be checked is not released (nothing moved yet)
        before = Before(
            self._store.aliases(),
            Routing(first.live, first.canary_percent, first.ab_split_percent),
            first.experiment_id,
        )
        now = self._clock.now()
        state = ReleaseState(
            release_id=f"r-{now:%Y%m%dT%H%M%SZ}-{version}",
            strategy=mode,
            phase="releasing",
            alias=target,
            candidate=version,
            before=before,
            # Canary: weight 0 before @B moves, so the candidate gets no traffic until the first step.
            routing=Routing(first.live, 0, first.ab_split_percent) if mode == "canary" else before.routing,
            experiment_id=first.experiment_id,
        )
        state = self._write(state)
        self._say(
            f"release {state.release_id} of v{version} to @{target} ({mode}) recorded; "
            f"before: {_before(before)}"
        )
        return state

    def _resume(self, state: ReleaseState) -> ReleaseState:
        views = self._reachable_fleet()
        modes = {view.mode for view in views}
        if modes != {state.strategy}:
            raise Stopped(
                f"release {state.release_id} is {state.strategy} but the fleet reports mode "
                f"{', '.join(sorted(str(m) for m in modes))}: roll it back (make rollback)"
            )
        self._say(
            f"resuming release {state.release_id} of v{state.candidate}; before kept: {_before(state.before)}"
        )
        return state

    def _reachable_fleet(self) -> list[ReplicaView]:
        views = self._fleet.status_all()
        if not views:
            raise Stopped("no serving replicas found")
        unreachable = [view for view in views if not view.ok]
        if unreachable:
            raise Stopped("every replica must answer: " + "; ".join(view.line() for view in views))
        return views

    def _agreeing_fleet(self) -> list[ReplicaView]:
        """Every replica reachable, with the same mode and routing values (recorded as ``before``)."""
        views = self._reachable_fleet()
        routing = {(v.mode, v.live, v.canary_percent, v.ab_split_percent, v.experiment_id) for v in views}
        if len(routing) > 1:
            raise Stopped("replicas disagree on mode or routing: " + "; ".join(view.line() for view in views))
        return views

    def _target(self, mode: str, alias: str | None, live: str | None) -> str:
        if mode == "blue_green":
            if live not in ALIASES:
                raise Stopped(f"the fleet reports live colour {live!r}, not A or B")
            idle = "B" if live == "A" else "A"
            if alias == live:
                raise UsageError(
                    f"ALIAS={alias} is the live colour; blue-green releases to the idle colour {idle}"
                )
            return idle
        if mode == "canary":
            if alias not in (None, "B"):
                raise UsageError(
                    f"ALIAS={alias}: a canary release loads the candidate on @B (it promotes to @A)"
                )
            return "B"
        return alias or "B"

    def _example(self, version: str) -> list[list[Any]]:
        rows = self._store.input_example(version)
        if not rows:
            raise Stopped(f"v{version} has no logged input example to check it on every replica with")
        return rows

    # ----------------------------------------------------------------------------------------- strategies

    def _blue_green(self, state: ReleaseState) -> ReleaseState:
        """The idle colour gets the candidate, every replica answers a prediction on it, then the switch."""
        idle, candidate = state.alias, state.candidate
        rows = self._example(candidate)
        self._move(idle, state.before.version(idle), candidate)
        self._converge(state, {idle: candidate})
        self._say(f"every replica serves v{candidate} on the idle colour @{idle}")
        outcomes = self._fleet.predict_all(idle, rows)
        wrong = [o for o in outcomes if not o.ok or o.version != candidate]
        for outcome in outcomes:
            self._say(f"check on @{idle}: {outcome.line()}")
        if wrong or not outcomes:
            raise Stopped(f"v{candidate} failed its check on {len(wrong)}/{len(outcomes)} replicas")
        state = self._write(state, live=idle)
        self._converge(state, {idle: candidate})
        self._say(f"live colour switched to @{idle} (v{candidate}) on every replica")
        state = self._write(state, phase="released")
        self._converge(state, {idle: candidate})
        return state

    def _canary(self, state: ReleaseState) -> ReleaseState:
        """@B at weight 0, then each step with its analysis window; after 100 %, promote to @A."""
        candidate = state.candidate
        self._converge(state, {})  # the weight (0 on a fresh release) is everywhere before @B moves
        self._move("B", state.before.version("B"), candidate)
        self._converge(state, {"B": candidate})
        first_at = self._clock.now()
        first = self._metrics()
        reached = state.routing.canary_percent or 0
        for step in (step for step in self._policy.steps if step >= reached):
            if state.routing.canary_percent != step:
                state = self._write(state, canary_percent=step)
                self._converge(state, {"B": candidate})
            self._say(f"canary {step}%: every replica routes {step}% of clients to @B v{candidate}")
            self._analyse(step, first, first_at)
        self._move("A", state.before.version("A"), candidate)
        self._converge(state, {"A": candidate, "B": candidate})
        state = self._write(state, canary_percent=0)
        self._converge(state, {"A": candidate, "B": candidate})
        self._say(f"promoted: @A serves v{candidate} on every replica, canary weight back to 0")
        state = self._write(state, phase="promoted")
        self._converge(state, {"A": candidate, "B": candidate})
        return state

    def _ab_test(self, state: ReleaseState) -> ReleaseState:
        """Load the candidate on the alias fleet-wide under a new experiment id; the split stays as it is.

        The release ends here, in phase ``released``; ``conclude`` ends the experiment later, on the app's
        verdict. The experiment id changes only once every replica serves the candidate, so the new
        experiment's records never include the previous version.
        """
        alias, candidate = state.alias, state.candidate
        self._move(alias, state.before.version(alias), candidate)
        self._converge(state, {alias: candidate})
        state = self._write(state, experiment_id=state.release_id, phase="released")
        self._converge(state, {alias: candidate})
        return state

    def _promote_winner(self, state: ReleaseState) -> ReleaseState:
        """@A to the winning candidate (by compare-and-set; a winner on @A is there already), then the phase.

        A retry after a crash finds @A already moved and carries on; a manual move of @A stops it.
        """
        candidate = state.candidate
        versions = {state.alias: candidate}
        if state.alias == "B":
            self._move("A", state.before.version("A"), candidate)
            versions["A"] = candidate
            self._converge(state, versions)
        state = self._write(state, phase="promoted")
        self._converge(state, versions)
        return state

    # ------------------------------------------------------------------------------------------- analysis

    def _metrics(self) -> dict[str, analysis.Series]:
        """Every replica's counters now; a replica whose numbers cannot be read stops the release."""
        snapshots: dict[str, analysis.Series] = {}
        for replica in self._fleet.metrics_all():
            if replica.text is None:
                raise Stopped(
                    f"metrics of {replica.url} unreadable ({replica.detail}): its errors would be unseen"
                )
            try:
                snapshots[replica.url] = analysis.parse(replica.text)
            except ValueError as error:
                raise Stopped(f"metrics of {replica.url} unparsable: {str(error)[:200]}") from None
        if not snapshots:
            raise Stopped("no serving replicas to read metrics from")
        return snapshots

    @staticmethod
    def _summary(
        start: Mapping[str, analysis.Series], end: Mapping[str, analysis.Series]
    ) -> dict[str, analysis.VariantWindow]:
        gone = sorted(set(start) - set(end))
        if gone:
            raise Stopped(
                f"replicas left during the analysis window, their numbers unknown: {', '.join(gone)}"
            )
        return analysis.summarize(analysis.window(start.get(url), series) for url, series in end.items())

    def _quality(self, since: datetime, first_at: datetime) -> analysis.GateResult:
        """The quality gate on the labels of predictions made since the window began."""
        experiment = self._fleet.experiment(since)
        baseline = "in the window"
        if experiment.ok and not experiment.a_labelled and first_at < since:
            # At 100 % @A gets no traffic, so no labels: compare with @A over the release's whole analysis.
            experiment = self._fleet.experiment(first_at)
            baseline = "since the first step"
        return analysis.quality(experiment, self._policy.quality_margin, baseline)

    def _analyse(self, step: int, first: Mapping[str, analysis.Series], first_at: datetime) -> None:
        """Wait for the window (min_requests on B, or step_seconds), then check every gate against @A."""
        policy = self._policy
        since = self._clock.now()  # the quality gate counts the labels of predictions made from here on
        start = self._metrics()
        began = self._clock.monotonic()
        while True:
            remaining = policy.step_seconds - (self._clock.monotonic() - began)
            self._clock.sleep(max(0.0, min(policy.poll_seconds, remaining)))
            end = self._metrics()
            summary = self._summary(start, end)
            b = summary.get("B", analysis.VariantWindow())
            elapsed = self._clock.monotonic() - began
            if b.requests >= policy.min_requests or elapsed >= policy.step_seconds:
                break
        a = summary.get("A", analysis.VariantWindow())
        baseline = "in the window"
        if not a.requests:  # at 100 % @A gets no traffic: compare with @A over the release's whole analysis
            a = self._summary(first, end).get("A", analysis.VariantWindow())
            baseline = "since the first step"
        gates = (*analysis.evaluate(b, a, policy), self._quality(since, first_at))
        self._say(
            f"canary {step}% analysed over {elapsed:.0f} s: {_window_line('@B', b)}; "
            f"{_window_line('@A', a)} ({baseline}); fallbacks to A {b.fallbacks:g}"
        )
        failed = [gate for gate in gates if not gate.passed]
        if failed:
            raise Stopped(f"canary {step}%: " + "; ".join(gate.line() for gate in failed))
        self._say(f"canary {step}%: gates passed (" + "; ".join(gate.line() for gate in gates) + ")")

    # ------------------------------------------------------------------------------------------- rollback

    @staticmethod
    def _changed_aliases(state: ReleaseState) -> tuple[str, ...]:
        # A canary also moves @A when it promotes, and so does an A/B release on @B whose experiment is
        # concluded in the candidate's favour; @A is moved back only if it is still at the candidate.
        promotes = state.strategy == "canary" or (state.strategy == "ab_test" and state.alias == "B")
        return ("B", "A") if promotes else (state.alias,)

    def _stop_and_roll_back(self) -> Outcome:
        """After a failed step: roll back what the registry says this release changed."""
        try:
            state = self._store.read_state()
        except (StateError, RegistryError) as error:
            return self._finish(
                1, f"cannot read the release state to roll back ({error}): run make rollback", None
            )
        if state is None:
            return self._finish(1, "no release state to roll back: run make release-status", None)
        return self._roll_back(state, self._changed_aliases(state), success=1)

    def _roll_back(self, state: ReleaseState, aliases: tuple[str, ...], *, success: int) -> Outcome:
        """Routing back first (blue-green's switch back is instant), then each alias back by compare-and-set.

        Canary: the weight goes to 0 first, so no client reaches @B while it is moved back; the routing values
        of ``before`` return at the end. Each step is carried on after a failure, so a rollback does what it
        can; the failures are reported and make the exit code 1.
        """
        before = state.before
        problems: list[str] = []
        expected: dict[str, str | None] = {}
        self._say(f"rolling back release {state.release_id} of v{state.candidate} ({state.phase})")
        safe = before.routing
        if state.strategy == "canary":
            safe = Routing(before.routing.live, 0, before.routing.ab_split_percent)
        try:
            state = self._write(
                state,
                phase="stopped",
                live=safe.live,
                canary_percent=safe.canary_percent,
                ab_split_percent=safe.ab_split_percent,
            )
            self._step(problems, lambda: self._converge(state, {}), f"routing back: {safe.describe()}")
            current = self._store.aliases()
        except (RegistryError, StateError) as error:
            return self._finish(1, f"rollback failed: {error}: run make rollback again", state)
        for alias in aliases:
            target, now = before.version(alias), current.get(alias)
            if now == target:
                self._say(f"@{alias} already at {version_label(target)}")
                expected[alias] = target
            elif now != state.candidate:
                self._say(
                    f"@{alias} is at {version_label(now)}, not the release's v{state.candidate}: "
                    f"changed by someone else, left as is (before: {version_label(target)})"
                )
            else:
                try:
                    self._move(alias, state.candidate, target)
                    expected[alias] = target
                except STOPPING as error:
                    problems.append(str(error))
                    self._say(f"rollback step failed: {error}")
        # An alias that had no version before is removed; whether a replica unloads it is the app's business.
        expected = {alias: version for alias, version in expected.items() if version is not None}
        for alias in sorted(set(self._changed_aliases(state)) - set(aliases)):
            self._say(f"@{alias} left at {version_label(current.get(alias))} (ALIAS={aliases[0]})")
        self._step(problems, lambda: self._converge(state, expected, patient=not problems), "")
        try:
            state = self._write(
                state,
                phase="rolled_back",
                live=before.routing.live,
                canary_percent=before.routing.canary_percent,
                ab_split_percent=before.routing.ab_split_percent,
                experiment_id=before.experiment_id,
            )
        except RegistryError as error:
            return self._finish(1, f"rollback incomplete: {error}: run make rollback again", state)
        self._step(problems, lambda: self._converge(state, expected, patient=not problems), "")
        if problems:
            return self._finish(
                1,
                f"rollback incomplete ({len(problems)} steps failed; the registry holds the rollback): "
                f"{problems[-1]}",
                state,
            )
        return self._finish(success, f"rolled back: {_describe(state)}", state)

    def _step(self, problems: list[str], action: Callable[[], None], done: str) -> bool:
        try:
            action()
        except STOPPING as error:
            problems.append(str(error))
            self._say(f"rollback step failed: {error}")
            return False
        if done:
            self._say(done)
        return True


def _stop_if_token_rejected(views: list[ReplicaView]) -> None:
    """A replica refusing the reload token stops at once: no wait or retry makes two Secrets agree."""
    rejected = [view for view in views if view.token_rejected]
    if rejected:
        raise Stopped(
            f"reload token rejected by replica {', '.join(view.url for view in rejected)} "
            f"({rejected[0].detail}): the pipeline's RELOAD_SECRET_TOKEN is not the app's"
        )


def _disagreement(view: ReplicaView, state: ReleaseState, versions: Mapping[str, str | None]) -> str:
    """Why ``view`` does not (yet) show ``state`` and ``versions``; "" when it does."""
    if not view.ok:
        return view.detail or "no answer"
    if view.state_error:
        return f"state_error: {view.state_error}"
    wanted: dict[str, object] = {
        "release_id": state.release_id,
        "phase": state.phase,
        "live": state.routing.live,
        "canary_percent": state.routing.canary_percent,
        "ab_split_percent": state.routing.ab_split_percent,
        "experiment_id": state.experiment_id,
    }
    wrong = [
        f"{name}={getattr(view, name)} (expected {value})"
        for name, value in wanted.items()
        if value is not None and getattr(view, name) != value
    ]
    wrong += [
        f"@{alias}={version_label(view.versions.get(alias))} (expected {version_label(version)})"
        for alias, version in versions.items()
        if view.versions.get(alias) != version
    ]
    return ", ".join(wrong)
