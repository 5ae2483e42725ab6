"""What the process is doing: index, health, probes, loaded models, metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.api.http import FastJSONResponse
from serving.api.routes.dependencies import serving_of
from serving.config import SERVED_VARIANTS

router = APIRouter(tags=["status"])


@router.get("/")
async def index(request: Request) -> dict[str, Any]:
    """The endpoints and the active routing mode."""
    serving = serving_of(request)
    return {
        "service": "model-serving",
        "model_name": serving.settings.model_name,
        "mode": serving.settings.alias_selection_mode,
        "live": serving.release.live,
        "variants": list(SERVED_VARIANTS),
        "endpoints": {
            "POST /predict": "routed by x-client-id under the active mode",
            "POST /variant/{alias}/predict": "predict with an explicit variant",
            "POST /v2/models/{name}/infer": "Open Inference Protocol v2, routed like /predict",
            "POST /v2/models/{name}/versions/{version}/infer": "v2 on an explicit loaded version",
            "GET /v2, /v2/health/{live,ready}, /v2/models/{name}[/ready]": "v2 metadata and health",
            "POST /invocations": "MLflow's scoring protocol (JSON or CSV), routed like /predict",
            "GET /ping, /version": "MLflow scoring server health and version",
            "POST /variant/{alias}/reload": "hot-swap a variant from its registry alias (x-token)",
            "GET /release": "the effective release: live colour, weights, versions, and their sources",
            "POST /release/sync": "re-read the release state and both aliases now (x-token)",
            "POST /feedback": "the true label of a logged prediction (or a list of them)",
            "GET /experiment": "per-variant quality, the sequential verdict and the sample-ratio check",
            "GET /health": "ok / degraded / unhealthy",
            "GET /models": "what is loaded",
            "GET /livez": "liveness probe",
            "GET /readyz": "readiness probe",
            "GET /metrics": "Prometheus metrics",
        },
    }


@router.get("/health", responses={503: {"description": "unhealthy: no variant loaded"}})
async def health(request: Request) -> FastJSONResponse:
    """ok (all variants), degraded (some) — HTTP 200; unhealthy (none) — HTTP 503."""
    report = serving_of(request).health()
    return FastJSONResponse(report, status_code=503 if report["status"] == "unhealthy" else 200)


@router.get("/livez")
async def livez() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "alive"}


@router.get("/readyz", responses={503: {"description": "the live variant cannot serve"}})
async def readyz(request: Request) -> FastJSONResponse:
    """200 only when the live variant is loaded (what blue-green and clients without an id get)."""
    serving = serving_of(request)
    live = serving.release.live  # the release state's live colour, else DEFAULT_ALIAS
    ready = serving.slots.get(live) is not None
    return FastJSONResponse({"ready": ready, "live": live}, status_code=200 if ready else 503)


@router.get("/models")
async def models(request: Request) -> dict[str, Any]:
    """Each loaded variant: model name, alias, version, run_id, model_uri, when loaded."""
    serving = serving_of(request)
    return {
        "model_name": serving.settings.model_name,
        "mode": serving.settings.alias_selection_mode,
        "variants": {variant: model.describe() for variant, model in serving.slots.loaded().items()},
    }


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
