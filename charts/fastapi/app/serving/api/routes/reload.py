"""POST /variant/{alias}/reload and /rollback: token-guarded hot swap of one variant."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel

from serving.api.routes.dependencies import require_served, serving_of
from serving.inference.service import Serving
from serving.repository.hot_swap import ReloadError, SwapResult

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
    409: {"description": "nothing to roll back to"},
    502: {"description": "the version failed to load or smoke-predict; the old model keeps serving"},
    503: {"description": "reload disabled (no token configured) or registry unreachable"},
}


def authorize(serving: Serving, token: str | None, alias: str) -> None:
    expected = serving.settings.reload_secret_token
    if expected is None:
        raise HTTPException(503, "reload is disabled: RELOAD_SECRET_TOKEN is not configured")
    if not token:
        raise HTTPException(401, "x-token header is required")
    if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise HTTPException(403, "x-token is not valid")
    require_served(alias)


async def _swap(request: Request, alias: str, token: str | None, rollback: bool) -> SwapResult:
    serving = serving_of(request)
    authorize(serving, token, alias)
    try:
        if rollback:
            return await serving.swapper.rollback(alias)
        return await serving.swapper.reload(alias, trigger="api")
    except ReloadError as error:
        raise HTTPException(error.status_code, error.message) from None


@router.post("/variant/{alias}/reload", response_model=SwapResponse, responses=ERRORS)
async def reload_variant(
    request: Request, alias: str, x_token: Annotated[str | None, Header()] = None
) -> dict[str, str | None]:
    """Hot-swap the variant to the version its registry alias points at (no-op when already served)."""
    return (await _swap(request, alias, x_token, rollback=False)).as_dict()


@router.post("/variant/{alias}/rollback", response_model=SwapResponse, responses=ERRORS)
async def rollback_variant(
    request: Request, alias: str, x_token: Annotated[str | None, Header()] = None
) -> dict[str, str | None]:
    """Swap back to the model this variant served before its last swap (kept in memory)."""
    return (await _swap(request, alias, x_token, rollback=True)).as_dict()
