"""POST /predict (routed by x-client-id) and POST /variant/{alias}/predict (explicit variant)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, TypeAdapter

from serving.api import serve
from serving.api.http import FastJSONResponse, json_body_schema, read_json
from serving.api.routes.dependencies import require_served, serving_of
from serving.inference.inputs import PredictRequest, to_matrix
from serving.inference.service import Decision
from serving.repository.loader import LoadedModel
from serving.repository.predictors import ModelInput

router = APIRouter(tags=["predict"])


class PredictResponse(BaseModel):
    variant: str
    version: str
    mode: str
    prediction: list[Any]
    request_id: str


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
    payload = await read_json(request, PREDICT_BODY)
    settings = serving_of(request).settings

    def decode(model: LoadedModel) -> ModelInput:
        return to_matrix(
            payload.data,
            n_features=model.predictor.n_features,
            max_rows=settings.max_batch_rows,
            max_features=settings.max_features,
        )

    answer = await serve.predict(request, decision, decode, fallback=fallback)
    model = answer.model
    body = {
        "variant": model.variant,
        "version": model.version,
        "mode": answer.mode,
        "prediction": answer.served.prediction,
        "request_id": answer.served.request_id,
    }
    return serve.respond(request, answer, body)


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=ERRORS,
    openapi_extra={"parameters": [serve.CLIENT_ID_PARAMETER], **json_body_schema(PREDICT_BODY)},
)
async def predict(request: Request) -> FastJSONResponse:
    """Route by ``x-client-id`` under the configured mode; falls back to the other variant if needed."""
    serving = serving_of(request)
    return await _serve(request, serving.route(serve.client_id(request)), fallback=True)


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
