"""The FastAPI application: start-up and shutdown around the routers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from loguru import logger

from serving.api.http import FastJSONResponse, RequestContextMiddleware, install_error_handlers
from serving.api.routes import predict, reload, status
from serving.config import Settings
from serving.inference.service import Serving
from serving.repository.hot_swap import load_at_startup, watch_registry
from serving.telemetry.logging import configure_logging


class StartupError(RuntimeError):
    """No variant could be loaded: the process must exit so the orchestrator restarts it visibly."""


def _secrets(settings: Settings) -> list[str]:
    values = (settings.reload_secret_token, settings.slack_webhook_url)
    return [value.get_secret_value() for value in values if value is not None]


async def _start(serving: Serving) -> None:
    settings = serving.settings
    failures = await load_at_startup(
        serving.swapper, settings.startup_load_attempts, settings.startup_retry_seconds
    )
    if len(failures) == len(serving.slots.variants):
        summary = "; ".join(f"@{variant}: {message}" for variant, message in failures.items())
        logger.critical("no variant could be loaded, exiting: {}", summary)
        raise StartupError(summary)
    for variant, message in failures.items():
        logger.error("starting degraded: @{} not loaded: {}", variant, message)
        serving.notifier.notify(f":warning: serving started degraded: @{variant} not loaded ({message})")
    loaded = {variant: model.version for variant, model in serving.slots.loaded().items()}
    logger.info("serving {} in {} mode: {}", settings.model_name, settings.alias_selection_mode, loaded)


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_file, _secrets(settings))
        serving = Serving.from_settings(settings)
        app.state.serving = serving
        watcher: asyncio.Task[None] | None = None
        try:
            await _start(serving)
            if settings.registry_poll_seconds > 0:
                watcher = asyncio.create_task(watch_registry(serving.swapper, settings.registry_poll_seconds))
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await serving.notifier.aclose()
            serving.executor.shutdown(wait=False, cancel_futures=True)
            await logger.complete()

    app = FastAPI(
        title="Model serving",
        summary="A/B, canary and blue-green routing between the MLflow aliases @A and @B, with hot swap.",
        version="1.0.0",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
    )
    app.add_middleware(RequestContextMiddleware, mode=str(settings.alias_selection_mode))
    install_error_handlers(app)
    for router in (predict.router, reload.router, status.router):
        app.include_router(router)
    return app
