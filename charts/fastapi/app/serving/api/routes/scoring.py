"""MLflow's scoring protocol, as ``mlflow models serve`` answers it: ``POST /invocations`` (JSON or CSV,
routed like ``/predict``), ``GET /ping`` and ``GET /version``."""

from __future__ import annotations

from typing import Any

import mlflow.version
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from serving.api import serve
from serving.api.http import FastJSONResponse, json_body_schema
from serving.api.routes.dependencies import serving_of
from serving.inference import scoring
from serving.inference.inputs import Limits
from serving.repository.loader import LoadedModel
from serving.repository.predictors import ModelInput

router = APIRouter(tags=["mlflow scoring protocol"])


class DataframeSplit(BaseModel):
    columns: list[str] | None = None
    data: list[Any]
    index: list[Any] | None = None


class ScoringRequest(BaseModel):
    """Exactly one of the four input fields, and optional ``params`` (documentation: MLflow parses it)."""

    model_config = ConfigDict(extra="allow")
    dataframe_split: DataframeSplit | None = None
    dataframe_records: list[dict[str, Any]] | None = None
    instances: list[Any] | dict[str, Any] | None = None
    inputs: list[Any] | dict[str, Any] | None = None
    params: dict[str, Any] | None = None


class Predictions(BaseModel):
    predictions: list[Any] = Field(description="one prediction per row")


BODY = json_body_schema(TypeAdapter(ScoringRequest))
BODY["requestBody"]["content"][scoring.CSV] = {
    "schema": {
        "type": "string",
        "description": "a DataFrame as pandas' to_csv() writes it, with a header row",
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid input; the message names the problem"},
    413: {"description": "the body is larger than MAX_BODY_BYTES"},
    415: {"description": "neither application/json nor text/csv, or not UTF-8"},
    503: {"description": "no model is loaded"},
}


def _media_type(header: str | None) -> str:
    """``application/json`` or ``text/csv`` in UTF-8, as MLflow's scoring server accepts them; else 415."""
    media, *parameters = (part.strip() for part in (header or "").split(";"))
    values = {key.strip().lower(): value.strip() for key, _, value in (p.partition("=") for p in parameters)}
    if values.get("charset", "utf-8").lower() != "utf-8":
        raise HTTPException(415, "the scoring protocol takes UTF-8 bodies only")
    if unknown := sorted(set(values) - {"charset"}):
        raise HTTPException(415, f"unknown content type parameter(s): {', '.join(unknown)[:64]}")
    if media.lower() not in (scoring.JSON, scoring.CSV):
        raise HTTPException(
            415, f"content type {media[:64]!r} is not accepted: send {scoring.JSON} or {scoring.CSV}"
        )
    return media.lower()


@router.post(
    "/invocations",
    response_model=Predictions,
    responses=ERRORS,
    openapi_extra={"parameters": [serve.CLIENT_ID_PARAMETER], **BODY},
)
async def invocations(request: Request) -> FastJSONResponse:
    """Routed by ``x-client-id`` under the release state, as ``POST /predict``."""
    serving = serving_of(request)
    media = _media_type(request.headers.get("content-type"))
    body = await request.body()
    limits = Limits(serving.settings.max_batch_rows, serving.settings.max_features)
    payload = scoring.parse_json(body) if media == scoring.JSON else None

    def decode(model: LoadedModel) -> ModelInput:
        if payload is None:
            return scoring.from_csv(body, model.predictor, limits)
        return scoring.from_json(payload, model.predictor, limits)

    answer = await serve.predict(request, serving.route(serve.client_id(request)), decode, fallback=True)
    return serve.respond(request, answer, {"predictions": answer.served.prediction})


@router.get("/ping", response_class=PlainTextResponse, responses={503: {"description": "no model is loaded"}})
async def ping(request: Request) -> PlainTextResponse:
    """200 once a model is loaded, as ``mlflow models serve`` answers its health check."""
    if not serving_of(request).slots.loaded():
        raise HTTPException(503, "no model is loaded")
    return PlainTextResponse("\n")


@router.get("/version", response_class=PlainTextResponse)
async def version() -> PlainTextResponse:
    """The MLflow version the app scores with, as ``mlflow models serve`` answers it."""
    return PlainTextResponse(mlflow.version.VERSION)
