"""One prediction, whichever protocol carried it: pick the model, decode the input for it, predict, record,
answer with the variant headers (and offer the request to the shadow). The protocols differ only in how they
decode a body and render an answer; routing, release state, logging, metrics and feedback are the same."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request
from loguru import logger
from starlette.background import BackgroundTask

from serving.api.http import PARSE_OFF_LOOP_BYTES, FastJSONResponse
from serving.api.routes.dependencies import serving_of
from serving.config import RoutingMode
from serving.inference.inputs import InputError
from serving.inference.service import Decision, NotLoadedError, Served
from serving.repository.loader import LoadedModel
from serving.repository.predictors import ModelInput, SchemaMismatch

Decode = Callable[[LoadedModel], ModelInput]
"""The request's input as the chosen model takes it; raises InputError (a 4xx) when it cannot fit."""

CLIENT_ID_MAX_LENGTH = 256
# The header is read by hand, not declared as a FastAPI ``Header`` parameter: FastAPI's per-request
# parameter resolution cost more than routing and predicting together. The schema still documents it.
CLIENT_ID_PARAMETER = {
    "name": "x-client-id",
    "in": "header",
    "required": False,
    "description": "stable client id: the same id always lands on the same variant",
    "schema": {"type": "string", "maxLength": CLIENT_ID_MAX_LENGTH},
}


def client_id(request: Request) -> str | None:
    value = request.headers.get("x-client-id")
    if value is not None and len(value) > CLIENT_ID_MAX_LENGTH:
        raise InputError(f"header.x-client-id: String should have at most {CLIENT_ID_MAX_LENGTH} characters")
    return value


@dataclass(frozen=True)
class Answer:
    served: Served
    headers: dict[str, str]
    mode: str
    offer_to_shadow: bool

    @property
    def model(self) -> LoadedModel:
        return self.served.model


async def predict(
    request: Request,
    decision: Decision,
    decode: Decode,
    *,
    fallback: bool,
    version: str | None = None,
) -> Answer:
    """Serve ``decision``: routed requests may ``fallback`` to the other variant; ``version`` (an explicit
    registered version) must be what the chosen variant serves when the prediction is made."""
    serving = serving_of(request)
    wanted = decision.wanted
    try:
        selection = serving.select(wanted, fallback=fallback)
    except NotLoadedError as error:
        raise HTTPException(503, str(error)) from None
    model = selection.model
    if version is not None and model.version != version:  # swapped since the version was looked up
        raise HTTPException(404, f"version {version[:16]} is no longer loaded")
    headers: dict[str, str] = {}
    if selection.fell_back:
        headers["x-variant-fallback"] = f"{wanted}->{model.variant}"
    # A large body is decoded on a worker thread, as it was parsed: the event loop keeps answering meanwhile.
    large = len(await request.body()) > PARSE_OFF_LOOP_BYTES
    inputs = await asyncio.to_thread(decode, model) if large else decode(model)
    request.state.variant, request.state.version = model.variant, model.version
    predict_started = time.perf_counter()
    try:
        prediction = await serving.predict(model, inputs)
    except SchemaMismatch:
        raise
    except Exception:
        logger.exception("prediction failed on variant {} v{}", model.variant, model.version)
        raise HTTPException(500, f"prediction failed on variant {model.variant}") from None
    done = time.perf_counter()
    served = Served(
        request.state.request_id, decision, model, inputs, prediction,
        latency_ms=(done - request.state.started) * 1000, model_ms=(done - predict_started) * 1000,
    )  # fmt: skip
    serving.record(served)
    mode = str(serving.settings.alias_selection_mode)
    headers |= {"x-variant": model.variant, "x-model-version": model.version, "x-routing-mode": mode}
    # The shadow is offered a routed request only, once the client has its answer.
    shadow = fallback and serving.settings.alias_selection_mode is RoutingMode.SHADOW
    return Answer(served, headers, mode, shadow)


def respond(request: Request, answer: Answer, body: Any) -> FastJSONResponse:
    serving = serving_of(request)
    background = BackgroundTask(serving.enqueue_shadow, answer.served) if answer.offer_to_shadow else None
    return FastJSONResponse(body, headers=answer.headers, background=background)
