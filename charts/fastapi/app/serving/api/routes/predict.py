"""POST /predict (routed by x-client-id) and POST /variant/{alias}/predict (explicit variant)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from loguru import logger
from pydantic import BaseModel, TypeAdapter
from starlette.background import BackgroundTask

from serving.api.http import FastJSONResponse, json_body_schema, read_json
from serving.api.routes.dependencies import require_served, serving_of
from serving.config import RoutingMode
from serving.inference.inputs import InputError, PredictRequest, to_matrix
from serving.inference.service import Decision, NotLoadedError, Served

router = APIRouter(tags=["predict"])


class PredictResponse(BaseModel):
    variant: str
    version: str
    mode: str
    prediction: list[Any]
    request_id: str


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

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown variant"},
    413: {"description": "the body is larger than MAX_BODY_BYTES"},
    422: {"description": "invalid input; the detail names the problem"},
    503: {"description": "no model loaded for the variant"},
}
# The body is read by ``read_json``, not declared as a parameter: a large one is then validated off the event
# loop. The schema still documents it.
PREDICT_BODY = TypeAdapter(PredictRequest)


async def _serve(request: Request, decision: Decision, *, fallback: bool) -> FastJSONResponse:
    serving = serving_of(request)
    payload = await read_json(request, PREDICT_BODY)
    wanted = decision.wanted
    try:
        selection = serving.select(wanted, fallback=fallback)
    except NotLoadedError as error:
        raise HTTPException(503, str(error)) from None
    model = selection.model
    headers: dict[str, str] = {}
    if selection.fell_back:
        headers["x-variant-fallback"] = f"{wanted}->{model.variant}"
    try:
        settings = serving.settings
        rows = to_matrix(
            payload.data,
            n_features=model.predictor.n_features,
            max_rows=settings.max_batch_rows,
            max_features=settings.max_features,
        )
    except InputError as error:
        raise HTTPException(422, str(error)) from None
    request.state.variant, request.state.version = model.variant, model.version
    predict_started = time.perf_counter()
    try:
        prediction = await serving.predict(model, rows)
    except Exception:
        logger.exception("prediction failed on variant {} v{}", model.variant, model.version)
        raise HTTPException(500, f"prediction failed on variant {model.variant}") from None
    done = time.perf_counter()
    request_id: str = request.state.request_id
    served = Served(
        request_id, decision, model, rows, prediction,
        latency_ms=(done - request.state.started) * 1000, model_ms=(done - predict_started) * 1000,
    )  # fmt: skip
    serving.record(served)
    mode = str(serving.settings.alias_selection_mode)
    headers |= {"x-variant": model.variant, "x-model-version": model.version, "x-routing-mode": mode}
    body = {
        "variant": model.variant,
        "version": model.version,
        "mode": mode,
        "prediction": prediction,
        "request_id": request_id,
    }
    # The shadow is offered the request only once the client has its answer.
    shadow = fallback and serving.settings.alias_selection_mode is RoutingMode.SHADOW
    background = BackgroundTask(serving.enqueue_shadow, served) if shadow else None
    return FastJSONResponse(body, headers=headers, background=background)


def _client_id(request: Request) -> str | None:
    client_id = request.headers.get("x-client-id")
    if client_id is not None and len(client_id) > CLIENT_ID_MAX_LENGTH:
        raise HTTPException(
            422, f"header.x-client-id: String should have at most {CLIENT_ID_MAX_LENGTH} characters"
        )
    return client_id


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra={"parameters": [CLIENT_ID_PARAMETER], **json_body_schema(PREDICT_BODY)},
)
async def predict(request: Request) -> FastJSONResponse:
    """Route by ``x-client-id`` under the configured mode; falls back to the other variant if needed."""
    serving = serving_of(request)
    return await _serve(request, serving.route(_client_id(request)), fallback=True)


@router.post(
    "/variant/{alias}/predict",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra=json_body_schema(PREDICT_BODY),
)
async def predict_variant(request: Request, alias: str) -> FastJSONResponse:
    """Predict with an explicit variant (A or B)."""
    require_served(alias)
    return await _serve(request, serving_of(request).explicit(alias), fallback=False)
