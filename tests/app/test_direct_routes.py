"""The prediction routes served straight from their endpoints: what the framework would do, and no more.

In process, over real HTTP semantics (httpx's ASGI transport) against a small FastAPI app built the way
``create_app`` builds the real one; the real routes are exercised through every other app suite.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from serving.api.direct import DirectRoutes

router = APIRouter()
served_by: list[str] = []


@router.post("/things/{name}/score")
async def score(request: Request, name: str) -> JSONResponse:
    # Starlette's router marks the scope it routes; served directly, the route is there but not the router.
    served_by.append("framework" if "router" in request.scope else "direct")
    assert request.scope["route"].path == "/things/{name}/score"
    body = await request.json()
    if body.get("refuse"):
        raise HTTPException(409, f"{name} refused")
    if body.get("explode"):
        raise RuntimeError("a bug")
    return JSONResponse({"name": name, "path_params": request.path_params})


@router.get("/things/{name}/score")
async def describe(name: str) -> dict[str, str]:
    return {"name": name, "by": "framework"}


@router.post("/with-header")
async def with_header(request: Request, x_client: str = Header()) -> dict[str, str]:
    return {"client": x_client}


async def conflict(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    return JSONResponse({"problem": error.detail}, status_code=error.status_code)


async def unexpected(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"problem": f"internal: {type(error).__name__}"}, status_code=500)


def route(path: str, method: str) -> APIRoute:
    return next(
        r for r in router.routes if isinstance(r, APIRoute) and r.path == path and method in r.methods
    )


def app() -> FastAPI:
    application = FastAPI()
    application.add_exception_handler(HTTPException, conflict)
    application.add_exception_handler(Exception, unexpected)
    application.include_router(router)
    direct = [route("/things/{name}/score", "POST")]
    application.add_middleware(DirectRoutes, routes=direct, handlers=application.exception_handlers)
    return application


def call(method: str, path: str, **kwargs: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_a_direct_route_gets_its_path_parameters_and_the_route_in_its_scope() -> None:
    served_by.clear()
    reply = call("POST", "/things/iris/score", json={})
    assert reply.status_code == 200
    assert reply.json() == {"name": "iris", "path_params": {"name": "iris"}}
    assert served_by == ["direct"]


def test_its_errors_are_answered_by_the_app_s_own_handlers() -> None:
    refused = call("POST", "/things/iris/score", json={"refuse": True})
    assert (refused.status_code, refused.json()) == (409, {"problem": "iris refused"})
    exploded = call("POST", "/things/iris/score", json={"explode": True})
    assert (exploded.status_code, exploded.json()) == (500, {"problem": "internal: RuntimeError"})


def test_other_methods_and_paths_go_through_the_framework() -> None:
    assert call("GET", "/things/iris/score").json() == {"name": "iris", "by": "framework"}
    assert call("PUT", "/things/iris/score").status_code == 405
    assert call("POST", "/things/iris/score/extra", json={}).status_code == 404


def test_a_route_taking_more_than_the_request_and_its_path_is_refused() -> None:
    with pytest.raises(TypeError, match="/with-header cannot be served directly"):
        DirectRoutes(app(), [route("/with-header", "POST")], {})
    with pytest.raises(TypeError, match="cannot be served directly"):
        DirectRoutes(app(), [route("/things/{name}/score", "GET")], {})
