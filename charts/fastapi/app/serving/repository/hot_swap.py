"""The served set and the only ways it changes: reload from the registry, load at start-up.

Each variant has a lock, so reloads of one alias are serialized; the swap itself is a single dict
assignment, so a request sees either the old model or the new one, never a half-loaded one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass

from loguru import logger

from serving.repository.loader import LoadedModel, LoadError, load_version
from serving.repository.registry import Registry, RegistryError, VersionRef
from serving.telemetry import metrics
from serving.telemetry.slack import SlackNotifier

Loader = Callable[[Registry, VersionRef, str], LoadedModel]
EXPLICIT_TRIGGERS = ("api", "sync")  # asked for over HTTP: failures go to Slack too


class ReloadError(Exception):
    """A reload that changed nothing; ``status_code`` and one safe line for the client."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class SwapResult:
    status: str  # reloaded | unchanged
    variant: str
    version: str
    previous_version: str | None
    run_id: str | None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


class ModelSlots:
    """What is served per variant; a replaced model's files are freed one swap later."""

    def __init__(self, variants: tuple[str, ...]) -> None:
        self.variants = variants
        self._current: dict[str, LoadedModel] = {}
        # The model replaced by the last swap: a request that picked it just before the swap may still be
        # predicting with it, so its files are only deleted when the next swap replaces its successor.
        self._retired: dict[str, LoadedModel] = {}
        self.locks = {variant: asyncio.Lock() for variant in variants}

    def get(self, variant: str) -> LoadedModel | None:
        return self._current.get(variant)

    def loaded(self) -> dict[str, LoadedModel]:
        return dict(self._current)

    def install(self, model: LoadedModel) -> LoadedModel | None:
        replaced = self._current.get(model.variant)
        self._current[model.variant] = model
        if replaced is not None:
            evicted = self._retired.get(model.variant)
            self._retired[model.variant] = replaced
            if evicted is not None:
                evicted.discard()
        return replaced


class HotSwapper:
    def __init__(
        self, slots: ModelSlots, registry: Registry, notifier: SlackNotifier, loader: Loader = load_version
    ) -> None:
        self.slots = slots
        self.registry = registry
        self.notifier = notifier
        self._loader = loader

    async def reload(self, variant: str, *, trigger: str) -> SwapResult:
        async with self.slots.locks[variant]:
            try:
                result = await self._reload_locked(variant)
            except ReloadError as error:
                metrics.RELOADS.labels(alias=variant, result="failed").inc()
                logger.error("reload {} ({}) failed: {}", variant, trigger, error.message)
                if trigger in EXPLICIT_TRIGGERS:  # the watcher retries every poll: it would flood Slack
                    self.notifier.notify(f":x: reload of @{variant} failed: {error.message}")
                raise
        metrics.RELOADS.labels(alias=variant, result=result.status).inc()
        if result.status == "reloaded":
            logger.info(
                "reload {} ({}): v{} -> v{}", variant, trigger, result.previous_version, result.version
            )
        if result.status == "reloaded" and trigger != "startup":
            self.notifier.notify(
                f":white_check_mark: @{variant} hot-swapped to v{result.version} "
                f"(was v{result.previous_version}, run_id={result.run_id}, by {trigger})"
            )
        return result

    async def _reload_locked(self, variant: str) -> SwapResult:
        current = self.slots.get(variant)
        try:
            ref = await asyncio.to_thread(self.registry.resolve, variant)
        except RegistryError as error:
            raise ReloadError(503, str(error)) from None
        previous_version = current.version if current else None
        # The same version number is not the same model: a re-created registered model starts at v1 again.
        if current is not None and current.ref.identity == ref.identity:
            return SwapResult("unchanged", variant, ref.version, previous_version, ref.run_id)
        try:
            model = await asyncio.to_thread(self._loader, self.registry, ref, variant)
        except RegistryError as error:
            raise ReloadError(503, str(error)) from None
        except LoadError as error:
            raise ReloadError(502, str(error)) from None
        self.slots.install(model)
        metrics.record_loaded(variant, model.version)
        return SwapResult("reloaded", variant, ref.version, previous_version, ref.run_id)


async def load_at_startup(swapper: HotSwapper, attempts: int, retry_seconds: float) -> dict[str, str]:
    """Load every variant concurrently, each with bounded retries; returns the failures by variant."""

    async def load(variant: str) -> str | None:
        error: ReloadError | None = None
        for attempt in range(1, attempts + 1):
            try:
                await swapper.reload(variant, trigger="startup")
                return None
            except ReloadError as failure:
                error = failure
                if attempt < attempts:
                    await asyncio.sleep(retry_seconds)
        return error.message if error else "not attempted"

    variants = swapper.slots.variants
    outcomes = await asyncio.gather(*(load(variant) for variant in variants))
    return {variant: message for variant, message in zip(variants, outcomes, strict=True) if message}
