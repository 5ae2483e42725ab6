"""GET /release (the effective release, no auth) and POST /release/sync (re-read the registry now)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel

from serving.api.routes.dependencies import authorize, serving_of

router = APIRouter(tags=["release"])

Source = Literal["settings", "release_state"]


class Sources(BaseModel):
    live: Source
    canary_percent: Source
    ab_split_percent: Source
    experiment_id: Source


class ReleaseResponse(BaseModel):
    model_name: str
    mode: str
    live: str
    canary_percent: int
    ab_split_percent: int
    experiment_id: str | None
    release_id: str | None
    phase: str | None
    candidate: str | None
    versions: dict[str, str | None]
    sources: Sources
    state_error: str | None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "x-token missing"},
    403: {"description": "x-token wrong"},
    502: {"description": "an alias's version failed to load or smoke-predict; the old model keeps serving"},
    503: {"description": "sync disabled (no token configured) or registry unreachable"},
}


@router.get("/release", response_model=ReleaseResponse)
async def release(request: Request) -> dict[str, Any]:
    """The effective routing values, where each came from (settings or release state), the loaded versions."""
    return serving_of(request).release_report()


@router.post("/release/sync", response_model=ReleaseResponse, responses=ERRORS)
async def sync(request: Request, x_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """Re-read the release state and both aliases now, exactly as one registry poll does."""
    serving = serving_of(request)
    authorize(serving, x_token)
    failures = await serving.sync(trigger="sync")
    if failures:
        # An alias that failed decides the status (502 load failure, 503 registry); the detail names all.
        aliases = [error for what, error in failures.items() if what.startswith("@")]
        status = (aliases or list(failures.values()))[0].status_code
        raise HTTPException(status, "; ".join(f"{what}: {error.message}" for what, error in failures.items()))
    return serving.release_report()
