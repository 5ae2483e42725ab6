"""What every route module needs: the process's Serving object, and the 404 for an alias it does not serve."""

from __future__ import annotations

from fastapi import HTTPException, Request

from serving.config import SERVED_VARIANTS
from serving.inference.service import Serving


def serving_of(request: Request) -> Serving:
    serving: Serving = request.app.state.serving
    return serving


def require_served(alias: str) -> None:
    if alias not in SERVED_VARIANTS:
        served = ", ".join(SERVED_VARIANTS)
        raise HTTPException(404, f"unknown variant {alias[:16]!r}: served variants are {served}")
