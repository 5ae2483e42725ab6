"""Everything a request handler needs, built once per process from the settings."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from serving.config import SERVED_VARIANTS, Settings
from serving.inference.routing import choose_variant
from serving.repository.hot_swap import HotSwapper, ModelSlots
from serving.repository.loader import LoadedModel
from serving.repository.predictors import Matrix
from serving.repository.registry import Registry
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

    @classmethod
    def from_settings(cls, settings: Settings) -> Serving:
        slots = ModelSlots(SERVED_VARIANTS)
        notifier = SlackNotifier(settings.slack_webhook_url, settings.slack_timeout_seconds)
        registry = Registry(settings.mlflow_tracking_uri, settings.model_name)
        executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="predict")
        return cls(settings, slots, HotSwapper(slots, registry, notifier), notifier, executor)

    def route(self, client_id: str | None) -> str:
        s = self.settings
        return choose_variant(
            client_id, s.alias_selection_mode, s.default_alias, s.canary_percent, s.ab_split_percent
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
        if model is None:
            raise NotLoadedError("no model is loaded" if fallback else f"variant {wanted} is not loaded")
        return Selection(model, wanted)

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
