"""What every route module needs: the process's Serving object, the 404 for an alias it does not serve, and
the token check of the routes that change what is served."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from serving.config import SERVED_VARIANTS, normalize_token
from serving.inference.service import Serving


def serving_of(request: Request) -> Serving:
    serving: Serving = request.app.state.serving
    return serving


def require_served(alias: str) -> None:
    if alias not in SERVED_VARIANTS:
        served = ", ".join(SERVED_VARIANTS)
        raise HTTPException(404, f"unknown variant {alias[:16]!r}: served variants are {served}")


def authorize(serving: Serving, token: str | None) -> None:
    """The ``x-token`` check of reload and sync, before anything else they do (an unknown alias is only named
    to a caller who holds the token); without a configured token both are disabled. The configured token was
    normalized by the same rule at start-up; the comparison takes the same time wherever they differ."""
    expected = serving.settings.reload_secret_token
    if expected is None:
        raise HTTPException(503, "reload is disabled: RELOAD_SECRET_TOKEN is not configured")
    presented = normalize_token(token or "")
    if not presented:
        raise HTTPException(401, "x-token header is required")
    if not hmac.compare_digest(presented.encode(), expected.get_secret_value().encode()):
        raise HTTPException(403, "x-token is not valid")
