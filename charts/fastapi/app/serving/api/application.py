"""The FastAPI application: start-up and shutdown around the routers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.routing import APIRoute
from loguru import logger

from serving import __version__
from serving.api.direct import DirectRoutes
from serving.api.http import (
    BodyLimitMiddleware,
    FastJSONResponse,
    RequestContextMiddleware,
    install_error_handlers,
)
from serving.api.routes import open_inference, outcomes, predict, release, reload, scoring, status
from serving.config import Settings
from serving.inference.service import Serving
from serving.repository.hot_swap import load_at_startup
from serving.telemetry.logging import close_logging, configure_logging

DIRECT_ENDPOINTS = frozenset(
    {
        predict.predict,
        predict.predict_variant,
        open_inference.infer,
        open_inference.infer_version,
        scoring.invocations,
    }
)
"""The prediction endpoints, served without the framework's router (api/direct.py)."""


class StartupError(RuntimeError):
    """No variant could be loaded: the process must exit so the orchestrator restarts it visibly."""


# How long a shutdown may spend writing the prediction log's queue, then the log lines' queue: with the
# chart's preStop delay (5 s) both fit in its terminationGracePeriodSeconds (30 s).
LOG_FLUSH_ON_SHUTDOWN_SECONDS = 10.0
LOG_LINES_ON_SHUTDOWN_SECONDS = 2.0


def _secrets(settings: Settings) -> list[str]:
    values = (
        settings.reload_secret_token,
        settings.slack_webhook_url,
        settings.prediction_log_url,
        settings.mlflow_tracking_password,
    )
    return [value.get_secret_value() for value in values if value is not None]


def freeze_startup_heap() -> None:
    """Exclude everything start-up made (mlflow, pandas, sklearn, the models) from the cyclic GC for good.

    Those objects live as long as the process, yet each full collection walked all of them: ~200 ms with
    the event loop stopped, every few seconds under load, since the prediction log's records live long enough
    to reach the oldest generation. That was most of the p99 under load (100-150 ms, 20 ms without it).
    """
    gc.collect()
    gc.freeze()


async def _read_release(serving: Serving, attempts: int, retry_seconds: float) -> None:
    """The release state before the first request, so a restart routes as the fleet does (after a rollback
    too); when the registry cannot give it, the settings route until a poll or a sync can."""
    for attempt in range(1, attempts + 1):
        if await serving.read_release() is None:
            return
        if attempt < attempts:
            await asyncio.sleep(retry_seconds)
    logger.error("starting with the settings' routing values: {}", serving.release.state_error)


async def _start(serving: Serving) -> None:
    settings = serving.settings
    attempts, retry_seconds = settings.startup_load_attempts, settings.startup_retry_seconds
    # Both finish before the app takes its first request (the lifespan yields after them).
    _, failures = await asyncio.gather(
        _read_release(serving, attempts, retry_seconds),
        load_at_startup(serving.swapper, attempts, retry_seconds),
    )
    if len(failures) == len(serving.slots.variants):
        summary = "; ".join(f"@{variant}: {message}" for variant, message in failures.items())
        logger.critical("no variant could be loaded, exiting: {}", summary)
        raise StartupError(summary)
    for variant, message in failures.items():
        logger.error("starting degraded: @{} not loaded: {}", variant, message)
        serving.notifier.notify(f":warning: serving started degraded: @{variant} not loaded ({message})")
    loaded = {variant: model.version for variant, model in serving.slots.loaded().items()}
    mode, live = settings.alias_selection_mode, serving.release.live
    logger.info("serving {} in {} mode (live {}): {}", settings.model_name, mode, live, loaded)


def create_app(settings: Settings) -> FastAPI:
    # Here, not in the lifespan: uvicorn has configured its loggers (Config.__init__) and not yet logged the
    # server's start, so from its first line on every record goes through the escaping and the bounded queue.
    configure_logging(settings.log_level, settings.log_file, _secrets(settings), settings.log_queue_size)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving = Serving.from_settings(settings)
        app.state.serving = serving
        tasks: list[asyncio.Task[None]] = []
        if serving.log_writer is not None:
            serving.log_writer.start()
        try:
            await _start(serving)
            freeze_startup_heap()
            if settings.registry_poll_seconds > 0:
                tasks.append(asyncio.create_task(serving.watch(settings.registry_poll_seconds)))
            if serving.shadow_queue is not None:
                tasks.append(asyncio.create_task(serving.shadow_worker()))
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await serving.notifier.aclose()
            serving.executor.shutdown(wait=False, cancel_futures=True)
            if serving.shadow_executor is not None:
                serving.shadow_executor.shutdown(wait=False, cancel_futures=True)
            if serving.log_writer is not None:  # SIGTERM lands here: what was served gets written
                await asyncio.to_thread(serving.log_writer.close, LOG_FLUSH_ON_SHUTDOWN_SECONDS)
            await asyncio.to_thread(close_logging, LOG_LINES_ON_SHUTDOWN_SECONDS)

    app = FastAPI(
        title="Model serving",
        summary="A/B, canary and blue-green releases between the MLflow aliases @A and @B, with hot swap.",
        version=__version__,
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
    )
    install_error_handlers(app)
    routers = (predict.router, open_inference.router, scoring.router, outcomes.router, release.router)
    for router in (*routers, reload.router, status.router):
        app.include_router(router)
    # The last added runs first: the request context (id, log line, metrics) wraps the body limit's 413s too,
    # and both wrap the prediction routes served directly.
    direct = [
        route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint in DIRECT_ENDPOINTS
    ]
    app.add_middleware(DirectRoutes, routes=direct, handlers=app.exception_handlers)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, mode=str(settings.alias_selection_mode))
    return app
