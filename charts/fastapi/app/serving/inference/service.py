"""Everything a request handler needs, built once per process from the settings."""

from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
from loguru import logger

from serving.config import SERVED_VARIANTS, ModelTask, RoutingMode, Settings
from serving.inference.batching import Batcher
from serving.inference.release import ROUTING_FIELDS, EffectiveRelease, advance, effective, unreadable
from serving.inference.routing import b_share_percent, choose_variant, randomized
from serving.outcomes.experiment import Scope
from serving.outcomes.grading import CLASSIFICATION, REGRESSION
from serving.outcomes.log import PredictionLog, PredictionRecord, database_url, redacted
from serving.outcomes.statistics import Task
from serving.outcomes.writer import LogWriter
from serving.repository.hot_swap import HotSwapper, ModelSlots, ReloadError
from serving.repository.loader import LoadedModel, load_version
from serving.repository.predictors import ModelInput, loggable, row_count
from serving.repository.registry import Registry, RegistryError
from serving.telemetry import metrics
from serving.telemetry.slack import SlackNotifier


class NotLoadedError(Exception):
    """No model can answer: the wanted variant is not loaded (and no fallback was allowed or possible)."""


@dataclass(frozen=True)
class Decision:
    """Where routing sent a request, under which experiment, and the B share when the bucket decided."""

    wanted: str
    experiment_id: str
    b_share: int | None = None


@dataclass(frozen=True)
class Served:
    """A prediction as the prediction log and the shadow need it."""

    request_id: str
    decision: Decision
    model: LoadedModel
    inputs: ModelInput
    prediction: list[Any]
    latency_ms: float
    model_ms: float


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
    # Predictions too costly for the event loop run here; a small pool keeps queueing short under load.
    executor: ThreadPoolExecutor
    # Replaced as one object, never edited: a request routes on one release, never on half of two.
    release: EffectiveRelease
    log_writer: LogWriter | None = None
    # Shadow scoring never competes with live predictions for a thread, and waits on a bounded queue.
    shadow_executor: ThreadPoolExecutor | None = None
    shadow_queue: asyncio.Queue[Served] | None = None
    # One state read-and-apply at a time: a slow read finishing after a newer one must not undo it.
    _state_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Each variant's batches, for the model it serves now (a swapped-out model's batch finishes on its own).
    _batchers: dict[str, tuple[LoadedModel, Batcher]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> Serving:
        slots = ModelSlots(SERVED_VARIANTS)
        notifier = SlackNotifier(settings.slack_webhook_url, settings.slack_timeout_seconds)
        registry = Registry(settings.mlflow_tracking_uri, settings.model_name)
        executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="predict")
        loader = partial(load_version, allow_code=settings.allow_code_executing_models)
        swapper = HotSwapper(slots, registry, notifier, loader)
        serving = cls(settings, slots, swapper, notifier, executor, effective(settings, None))
        if settings.prediction_log_enabled:
            secret = settings.prediction_log_url
            url = database_url(secret.get_secret_value() if secret else None, settings.log_file)
            serving.log_writer = LogWriter(
                PredictionLog(url),
                queue_size=settings.prediction_log_queue_size,
                batch_size=settings.prediction_log_batch_size,
                linger_seconds=settings.prediction_log_flush_seconds,
            )
            logger.info("prediction log: {}", redacted(url))
        if settings.alias_selection_mode is RoutingMode.SHADOW:
            serving.shadow_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
            serving.shadow_queue = asyncio.Queue(maxsize=settings.shadow_queue_size)
        return serving

    @property
    def prediction_log(self) -> PredictionLog | None:
        return None if self.log_writer is None else self.log_writer.log

    def route(self, client_id: str | None) -> Decision:
        r = self.release
        experiment = r.experiment_id or ""
        wanted = choose_variant(client_id, r.mode, r.live, r.canary_percent, r.ab_split_percent, experiment)
        if not randomized(client_id, r.mode):
            return Decision(wanted, experiment)
        return Decision(wanted, experiment, b_share_percent(r.mode, r.canary_percent, r.ab_split_percent))

    def explicit(self, variant: str) -> Decision:
        return Decision(variant, self.release.experiment_id or "")

    def task_of(self, model: LoadedModel | None) -> Task:
        """How feedback grades this model: the setting, or (auto) what its signature's output type says."""
        configured = self.settings.model_task
        if configured is not ModelTask.AUTO:
            return REGRESSION if configured is ModelTask.REGRESSION else CLASSIFICATION
        task = model.predictor.signature_task if model is not None else None
        return REGRESSION if task == REGRESSION else CLASSIFICATION

    def experiment_scope(self, experiment_id: str | None, since: datetime | None) -> Scope:
        """What ``GET /experiment`` reports: by default the experiment routing uses now, judged by the task of
        the live model; in shadow mode, the live colour against its shadow."""
        release = self.release
        live = release.live
        loaded = self.slots.get(live) or next(iter(self.slots.loaded().values()), None)
        shadow_of = None
        if release.mode is RoutingMode.SHADOW:
            shadow_of = (live, next(variant for variant in SERVED_VARIANTS if variant != live))
        return Scope(
            experiment_id=(release.experiment_id or "") if experiment_id is None else experiment_id,
            since=since,
            task=self.task_of(loaded),
            alpha=self.settings.experiment_alpha,
            shadow_of=shadow_of,
        )

    def record(self, served: Served, *, shadow: bool = False) -> None:
        """Hand the prediction to the log's writer (a non-blocking put; dropped and counted when full)."""
        if self.log_writer is None:
            return
        decision, model = served.decision, served.model
        self.log_writer.submit(
            PredictionRecord(
                request_id=served.request_id,
                created=time.time(),
                experiment_id=decision.experiment_id,
                mode=str(self.settings.alias_selection_mode),
                wanted=model.variant if shadow else decision.wanted,
                variant=model.variant,
                version=model.version,
                b_share=None if shadow else decision.b_share,
                task=self.task_of(model),
                prediction=served.prediction,
                latency_ms=served.latency_ms,
                model_ms=served.model_ms,
                shadow=shadow,
                features=loggable(served.inputs) if self.settings.prediction_log_features else None,
            )
        )

    async def enqueue_shadow(self, served: Served) -> None:
        """Shadow mode: offer the request to the other variant; a full queue drops it (counted)."""
        queue = self.shadow_queue
        if queue is None or random.random() * 100 >= self.settings.shadow_sample_percent:  # noqa: S311
            return
        try:
            queue.put_nowait(served)
        except asyncio.QueueFull:
            metrics.record_shadow("dropped")

    async def shadow_worker(self) -> None:
        """Score each queued request on the variant that did not answer it, and log it as shadow."""
        assert self.shadow_queue is not None
        assert self.shadow_executor is not None
        loop = asyncio.get_running_loop()
        while True:
            served = await self.shadow_queue.get()
            other = next(v for v in SERVED_VARIANTS if v != served.model.variant)
            model = self.slots.get(other)
            if model is None:
                metrics.record_shadow("not_loaded")
                continue
            started = time.perf_counter()
            try:
                prediction = await loop.run_in_executor(
                    self.shadow_executor, model.predictor.predict, served.inputs
                )
            except Exception as error:  # a failing shadow is reported, never seen by a client
                metrics.record_shadow("failed")
                logger.warning(
                    "shadow prediction failed on {} v{}: {}", other, model.version, type(error).__name__
                )
                continue
            elapsed = (time.perf_counter() - started) * 1000
            metrics.record_shadow("scored")
            self.record(
                Served(
                    served.request_id, served.decision, model, served.inputs, prediction, elapsed, elapsed
                ),
                shadow=True,
            )

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

    async def predict(self, model: LoadedModel, inputs: ModelInput) -> list[Any]:
        """On the event loop when the model's measured cost says it is cheaper than a hand-off; else on a
        worker thread, float rows batched with their concurrent neighbours' (unless batching is off)."""
        budget = self.settings.inline_predict_ms
        if budget > 0 and model.cost.estimate_ms(row_count(inputs)) <= budget:
            return model.predictor.predict(inputs)
        if self.settings.adaptive_batching and isinstance(inputs, np.ndarray):
            return await self._batcher(model).predict(inputs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, model.predictor.predict, inputs)

    def _batcher(self, model: LoadedModel) -> Batcher:
        current = self._batchers.get(model.variant)
        if current is not None and current[0] is model:
            return current[1]
        settings = self.settings
        batcher = Batcher(
            model.predictor.predict,
            self.executor,
            max_rows=settings.adaptive_batch_max_rows,
            max_wait=settings.adaptive_batch_wait_ms / 1000,
        )
        self._batchers[model.variant] = (model, batcher)
        return batcher
