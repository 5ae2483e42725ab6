"""Everything a request handler needs, built once per process from the settings."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from serving.config import SERVED_VARIANTS, Settings
from serving.inference.release import ROUTING_FIELDS, EffectiveRelease, advance, effective, unreadable
from serving.inference.routing import choose_variant
from serving.repository.hot_swap import HotSwapper, ModelSlots, ReloadError
from serving.repository.loader import LoadedModel
from serving.repository.predictors import Matrix
from serving.repository.registry import Registry, RegistryError
from serving.telemetry import metrics
from serving.telemetry.slack import SlackNotifier


class NotLoadedError(Exception):
    """No model can answer: the wanted variant is not loaded (and no fallback was allowed or possible)."""


@dataclass(frozen=True)
class Selection:
    model: LoadedModel
    requested: str

    @property
    def fell_back(self) -> bool:
        return self.model.variant != self.requested


@dataclass
class Serving:
    settings: Settings
    slots: ModelSlots
    swapper: HotSwapper
    notifier: SlackNotifier
    # Inference runs here, never on the event loop; a small pool keeps queueing short under load.
    executor: ThreadPoolExecutor
    # Replaced as one object, never edited: a request routes on one release, never on half of two.
    release: EffectiveRelease
    # One state read-and-apply at a time: a slow read finishing after a newer one must not undo it.
    _state_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> Serving:
        slots = ModelSlots(SERVED_VARIANTS)
        notifier = SlackNotifier(settings.slack_webhook_url, settings.slack_timeout_seconds)
        registry = Registry(settings.mlflow_tracking_uri, settings.model_name)
        executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="predict")
        swapper = HotSwapper(slots, registry, notifier)
        return cls(settings, slots, swapper, notifier, executor, effective(settings, None))

    def route(self, client_id: str | None) -> str:
        r = self.release
        return choose_variant(client_id, r.mode, r.live, r.canary_percent, r.ab_split_percent)

    def select(self, wanted: str, *, fallback: bool) -> Selection:
        """The model serving ``wanted``; with ``fallback``, another loaded variant rather than no answer.

        Routed requests fall back (a client is better served by the other variant than by a 503); a request
        that names its variant explicitly never does.
        """
        model = self.slots.get(wanted)
        if model is None and fallback:
            others = (self.slots.get(variant) for variant in SERVED_VARIANTS if variant != wanted)
            model = next((other for other in others if other is not None), None)
            if model is not None:
                metrics.record_fallback(wanted, model.variant)
        if model is None:
            raise NotLoadedError("no model is loaded" if fallback else f"variant {wanted} is not loaded")
        return Selection(model, wanted)

    async def read_release(self) -> ReloadError | None:
        """Read the release state from the registry and make it effective; the error if it was not read.

        An invalid state is no error here: the previous release keeps routing and ``state_error`` says why.
        """
        async with self._state_lock:
            before = self.release
            try:
                raw = await asyncio.to_thread(self.swapper.registry.release_tag)
            except RegistryError as error:
                self.release = unreadable(before, str(error))
                failure: ReloadError | None = ReloadError(503, str(error))
            else:
                self.release = advance(before, self.settings, raw)
                failure = None
        self._report_change(before, self.release)
        return failure

    def _report_change(self, before: EffectiveRelease, after: EffectiveRelease) -> None:
        if after.state_error and after.state_error != before.state_error:
            logger.error("{}", after.state_error)
        if any(getattr(before, name) != getattr(after, name) for name in ROUTING_FIELDS):
            state = after.state
            logger.info(
                "release {} ({}): live={} canary_percent={} ab_split_percent={} experiment_id={}",
                state.release_id if state else "-", state.phase if state else "settings",
                after.live, after.canary_percent, after.ab_split_percent, after.experiment_id,
            )  # fmt: skip

    async def sync(self, *, trigger: str) -> dict[str, ReloadError]:
        """One registry poll: the release state, then every alias through the hot-swap path.

        Returns what failed, by what ("release state", "@A", "@B"); whatever failed keeps serving as before.
        """
        failures: dict[str, ReloadError] = {}
        if (state_failure := await self.read_release()) is not None:
            failures["release state"] = state_failure
        for variant in self.slots.variants:
            try:
                await self.swapper.reload(variant, trigger=trigger)
            except ReloadError as error:  # logged by reload
                failures[f"@{variant}"] = error
        return failures

    async def watch(self, interval: float) -> None:
        """Sync every ``interval`` seconds: every replica converges on the registry by itself."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync(trigger="watcher")
            except Exception:  # a dead watcher would leave the replica behind silently; try again next poll
                logger.exception("registry poll failed")

    def release_report(self) -> dict[str, Any]:
        """The effective release as ``GET /release`` shows it."""
        r, state = self.release, self.release.state
        loaded = self.slots.loaded()
        return {
            "model_name": self.settings.model_name,
            "mode": r.mode,
            "live": r.live,
            "canary_percent": r.canary_percent,
            "ab_split_percent": r.ab_split_percent,
            "experiment_id": r.experiment_id,
            "release_id": state.release_id if state else None,
            "phase": state.phase if state else None,
            "candidate": state.candidate if state else None,
            "versions": {v: loaded[v].version if v in loaded else None for v in self.slots.variants},
            "sources": r.sources,
            "state_error": r.state_error,
        }

    def health(self) -> dict[str, Any]:
        loaded = sorted(self.slots.loaded())
        missing = [variant for variant in SERVED_VARIANTS if variant not in loaded]
        status = "ok" if not missing else "degraded" if loaded else "unhealthy"
        return {
            "status": status,
            "loaded": loaded,
            "missing": missing,
            "mode": self.settings.alias_selection_mode,
        }

    async def predict(self, model: LoadedModel, rows: Matrix) -> list[Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, model.predictor.predict, rows)
