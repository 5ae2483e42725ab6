"""The Open Inference Protocol v2 (REST): server and model metadata, health, and inference, routed like
``/predict`` (``x-client-id`` and the release state choose the variant) or on an explicit loaded version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, TypeAdapter

from serving import __version__
from serving.api import serve
from serving.api.http import V2_PREFIX, FastJSONResponse, json_body_schema, read_json
from serving.api.routes.dependencies import serving_of
from serving.inference.inputs import Limits
from serving.inference.open_inference import (
    DEFAULT_OUTPUT,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    model_input,
    output_tensors,
    tensors_metadata,
)
from serving.inference.service import Decision, Serving
from serving.repository.loader import LoadedModel
from serving.repository.predictors import ModelInput

router = APIRouter(prefix=V2_PREFIX, tags=["open inference protocol v2"])
INFER_BODY = TypeAdapter(InferenceRequest)
SERVER_NAME = "model-serving"
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid input; the error names the problem"},
    404: {"description": "unknown model name, or a version that is not loaded"},
    413: {"description": "the body is larger than MAX_BODY_BYTES"},
    503: {"description": "no model is loaded"},
}


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Readiness(BaseModel):
    ready: bool


class Liveness(BaseModel):
    live: bool


def _served_model(serving: Serving, name: str) -> None:
    served = serving.settings.model_name
    if name != served:
        raise HTTPException(404, f"model {name[:64]!r} is not served here; this server serves {served!r}")


def _version_variant(serving: Serving, version: str) -> str:
    """The variant serving ``version``: the live one when both aliases are on it."""
    loaded = serving.slots.loaded()
    holding = [variant for variant, model in loaded.items() if model.version == version]
    if not holding:
        listed = ", ".join(f"{model.version} (@{variant})" for variant, model in sorted(loaded.items()))
        raise HTTPException(404, f"version {version[:16]!r} is not loaded; loaded: {listed or 'none'}")
    return serving.release.live if serving.release.live in holding else holding[0]


def _metadata(serving: Serving, model: LoadedModel) -> dict[str, Any]:
    predictor = model.predictor
    return ModelMetadata(
        name=serving.settings.model_name,
        versions=sorted({loaded.version for loaded in serving.slots.loaded().values()}, key=_version_order),
        platform=f"mlflow_{predictor.path}",
        inputs=tensors_metadata(predictor.inputs, "input"),
        outputs=tensors_metadata(predictor.outputs, DEFAULT_OUTPUT),
    ).model_dump()


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)


def _live_model(serving: Serving) -> LoadedModel:
    loaded = serving.slots.loaded()
    model = loaded.get(serving.release.live) or next(iter(loaded.values()), None)
    if model is None:
        raise HTTPException(503, "no model is loaded")
    return model


async def _infer(
    request: Request, decision: Decision, *, fallback: bool, version: str | None
) -> FastJSONResponse:
    payload = await read_json(request, INFER_BODY)
    settings = serving_of(request).settings
    limits = Limits(settings.max_batch_rows, settings.max_features)

    def decode(model: LoadedModel) -> ModelInput:
        return model_input(payload, model.predictor, limits)

    answer = await serve.predict(request, decision, decode, fallback=fallback, version=version)
    model = answer.model
    body = {
        "model_name": settings.model_name,
        "model_version": model.version,
        "id": payload.id if payload.id is not None else answer.served.request_id,
        "outputs": output_tensors(answer.served.prediction, model.predictor.outputs, payload.outputs),
    }
    return serve.respond(request, answer, body)


@router.get("", response_model=ServerMetadata)
async def server_metadata() -> dict[str, Any]:
    """The server's name, version and protocol extensions (none)."""
    return {"name": SERVER_NAME, "version": __version__, "extensions": []}


@router.get("/health/live", response_model=Liveness)
async def server_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready", response_model=Readiness, responses={503: {"description": "no model is loaded"}})
async def server_ready(request: Request) -> FastJSONResponse:
    ready = bool(serving_of(request).slots.loaded())
    return FastJSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.get("/models/{name}", response_model=ModelMetadata, responses=ERRORS)
async def model_metadata(request: Request, name: str) -> dict[str, Any]:
    """The live variant's signature as tensors, and every loaded version."""
    serving = serving_of(request)
    _served_model(serving, name)
    return _metadata(serving, _live_model(serving))


@router.get("/models/{name}/ready", response_model=Readiness, responses=ERRORS)
async def model_ready(request: Request, name: str) -> FastJSONResponse:
    serving = serving_of(request)
    _served_model(serving, name)
    ready = bool(serving.slots.loaded())
    return FastJSONResponse({"ready": ready}, status_code=200 if ready else 503)


@router.post(
    "/models/{name}/infer",
    response_model=InferenceResponse,
    responses=ERRORS,
    openapi_extra={"parameters": [serve.CLIENT_ID_PARAMETER], **json_body_schema(INFER_BODY)},
)
async def infer(request: Request, name: str) -> FastJSONResponse:
    """Routed by ``x-client-id`` under the release state, as ``POST /predict``."""
    serving = serving_of(request)
    _served_model(serving, name)
    return await _infer(request, serving.route(serve.client_id(request)), fallback=True, version=None)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=ERRORS)
async def version_metadata(request: Request, name: str, version: str) -> dict[str, Any]:
    serving = serving_of(request)
    _served_model(serving, name)
    model = serving.slots.get(_version_variant(serving, version))
    if model is None:
        raise HTTPException(404, f"version {version[:16]!r} is no longer loaded")
    return _metadata(serving, model)


@router.get("/models/{name}/versions/{version}/ready", response_model=Readiness, responses=ERRORS)
async def version_ready(request: Request, name: str, version: str) -> dict[str, bool]:
    serving = serving_of(request)
    _served_model(serving, name)
    _version_variant(serving, version)
    return {"ready": True}


@router.post(
    "/models/{name}/versions/{version}/infer",
    response_model=InferenceResponse,
    responses=ERRORS,
    openapi_extra=json_body_schema(INFER_BODY),
)
async def infer_version(request: Request, name: str, version: str) -> FastJSONResponse:
    """An explicit registered version, loaded under either alias; never falls back to another."""
    serving = serving_of(request)
    _served_model(serving, name)
    decision = serving.explicit(_version_variant(serving, version))
    return await _infer(request, decision, fallback=False, version=version)
