"""Everything a request handler needs, built once per process from the settings."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from core.config import SERVED_VARIANTS, Settings
from services.hot_swap import HotSwapper, ModelSlots
from services.model_loader import LoadedModel
from services.predictors import Matrix
from services.registry import Registry
from services.routing import choose_variant
from utils.slack import SlackNotifier


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
