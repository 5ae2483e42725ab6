"""HTTP plumbing: fast JSON responses, the body limit, the request-context middleware, one-line errors in each
protocol's own form."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.inference.inputs import InputError
from serving.repository.predictors import SchemaMismatch
from serving.repository.trust import to_json
from serving.telemetry import metrics
from serving.telemetry.logging import info_line

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return to_json(content)


V2_PREFIX = "/v2"
"""The Open Inference Protocol's routes; its errors are ``{"error": ...}``."""
SCORING_PATHS = frozenset({"/invocations", "/ping", "/version"})
"""MLflow's scoring protocol (``mlflow models serve``); errors: ``{"error_code": ..., "message": ...}``."""
# MLflow's own error codes (its databricks_pb2 names) for the statuses the scoring routes answer.
_SCORING_ERROR_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "REQUEST_LIMIT_EXCEEDED",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


def _is_standard_protocol(path: str) -> bool:
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/") or path in SCORING_PATHS


def invalid_input_status(path: str) -> int:
    """A client's malformed input: 400 on the standard protocols (as KServe and MLflow say), 422 on ours."""
    return 400 if _is_standard_protocol(path) else 422


def error_content(path: str, status: int, message: str) -> dict[str, Any]:
    """The error body each protocol's clients expect, carrying the same one-line message."""
    if path == V2_PREFIX or path.startswith(V2_PREFIX + "/"):
        return {"error": message}
    if path in SCORING_PATHS:
        return {"error_code": _SCORING_ERROR_CODES.get(status, "INTERNAL_ERROR"), "message": message}
    return {"detail": message}


def error_response(
    path: str, status: int, message: str, headers: dict[str, str] | None = None
) -> FastJSONResponse:
    return FastJSONResponse(error_content(path, status, message), status_code=status, headers=headers)


class BodyTooLarge(HTTPException):
    """413 naming the limit; an HTTPException so that FastAPI's body reading lets it through unchanged."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes (MAX_BODY_BYTES)")


class BodyLimitMiddleware:
    """Refuse a body over ``max_bytes`` before anything parses it.

    A declared ``Content-Length`` over the limit is answered at once, unread. Otherwise the bytes are counted
    as they arrive, so a chunked body without a length is cut at the limit too: the receive that crosses it
    raises ``BodyTooLarge`` and the server discards the rest. Memory stays bounded by the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = BodyTooLarge(self.max_bytes)
            await error_response(scope["path"], 413, error.detail)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


Body = TypeVar("Body")
# Bodies above this are validated on a worker thread: the event loop keeps answering (probes, other clients)
# while a large one is parsed; small ones are cheaper to validate in place.
PARSE_OFF_LOOP_BYTES = 64 * 1024


async def read_json(request: Request, adapter: TypeAdapter[Body]) -> Body:
    """The request's JSON body validated as ``adapter``'s type; a 422 naming the problem otherwise."""
    body = await request.body()
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    try:
        if len(body) > PARSE_OFF_LOOP_BYTES:
            return await asyncio.to_thread(adapter.validate_json, body)
        return adapter.validate_json(body)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False, include_context=False)) from None


def json_body_schema(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a route that reads its body with ``read_json``: the type's JSON schema
    with its models inlined (a ``#/$defs`` reference would not resolve inside the OpenAPI document)."""
    schema = adapter.json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


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
            info_line(
                f"request id={request_id} {scope['method']} {scope['path']} status={status} "
                f"variant={variant} version={version} latency_ms={elapsed * 1000:.2f}"
            )


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
    path = request.url.path
    return error_response(path, invalid_input_status(path), detail)


async def input_error(request: Request, error: Exception) -> JSONResponse:
    """The input does not fit the model (its shape, or its signature's types): the message names why."""
    path = request.url.path
    return error_response(path, invalid_input_status(path), str(error))


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    headers = dict(error.headers) if error.headers else None
    return error_response(request.url.path, error.status_code, str(error.detail), headers)


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    logger.opt(exception=error).error(
        "unhandled error in {} {} (request id={})", request.method, request.url.path, request_id
    )
    return error_response(request.url.path, 500, f"internal error; request id {request_id}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(InputError, input_error)
    app.add_exception_handler(SchemaMismatch, input_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
