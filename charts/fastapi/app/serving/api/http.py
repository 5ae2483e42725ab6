"""HTTP plumbing: fast JSON responses, the request-context middleware, and one-line error bodies."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.repository.trust import to_json
from serving.telemetry import metrics

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return to_json(content)


class RequestContextMiddleware:
    """Request id in and out, then one log line and the request metrics once the response is sent.

    Handlers that serve a model put ``variant`` and ``version`` into ``request.state``.
    """

    def __init__(self, app: ASGIApp, mode: str) -> None:
        self.app = app
        self.mode = mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["started"] = started
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            variant, version = state.get("variant", "-"), state.get("version", "-")
            metrics.record_request(variant, version, self.mode, status, elapsed)
            logger.info(
                "request id={} {} {} status={} variant={} version={} latency_ms={:.2f}",
                request_id, scope["method"], scope["path"], status, variant, version, elapsed * 1000,
            )  # fmt: skip


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part != "body"]
    text = parts[0] if parts else "body"
    for part in parts[1:]:
        text += f"[{part}]" if part.isdigit() else f".{part}"
    return text


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
    detail = f"{_location(tuple(first['loc']))}: {first['msg']}"
    if len(problems) > 1:
        detail += f" (and {len(problems) - 1} more)"
    return FastJSONResponse({"detail": detail}, status_code=422)


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    logger.opt(exception=error).error(
        "unhandled error in {} {} (request id={})", request.method, request.url.path, request_id
    )
    return FastJSONResponse({"detail": f"internal error; request id {request_id}"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
