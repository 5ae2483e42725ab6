"""POST /variant/{alias}/reload: token-guarded hot swap of one variant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel

from serving.api.routes.dependencies import authorize, require_served, serving_of
from serving.repository.hot_swap import ReloadError

router = APIRouter(tags=["reload"])


class SwapResponse(BaseModel):
    status: str
    variant: str
    version: str
    previous_version: str | None
    run_id: str | None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "x-token missing"},
    403: {"description": "x-token wrong"},
    404: {"description": "alias not served"},
    502: {"description": "the version failed to load or smoke-predict; the old model keeps serving"},
    503: {"description": "reload disabled (no token configured) or registry unreachable"},
}


@router.post("/variant/{alias}/reload", response_model=SwapResponse, responses=ERRORS)
async def reload_variant(
    request: Request, alias: str, x_token: Annotated[str | None, Header()] = None
) -> dict[str, str | None]:
    """Hot-swap the variant to the version its registry alias points at (no-op when already served)."""
    serving = serving_of(request)
    authorize(serving, x_token)
    require_served(alias)
    try:
        result = await serving.swapper.reload(alias, trigger="api")
    except ReloadError as error:
        raise HTTPException(error.status_code, error.message) from None
    return result.as_dict()
