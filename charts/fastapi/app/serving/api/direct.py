"""The prediction routes, served straight from their endpoint functions.

Starlette's router and FastAPI's per-request wrapper (route matching across every route, an exit stack,
dependency solving, the exception middleware) cost ~15 % of a one-row prediction's CPU, for endpoints that
take only the request and their path parameters and return a ready response. ``DirectRoutes`` calls those
endpoints itself, inside the app's own middleware (request id, body limit, log line, metrics), and answers
their errors with the app's own exception handlers, looked up by the exception's classes as Starlette does.
The routes stay declared on FastAPI's routers: their paths, the OpenAPI schema, and every other method or
path, which goes through the framework as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Handler = Callable[[Request, Any], Response | Awaitable[Response]]
"""An exception handler as Starlette keeps them (``app.exception_handlers``): async or not."""


def _takes_only_the_request_and_its_path(route: APIRoute) -> bool:
    """FastAPI would resolve anything else (a header, a query, a body, a dependency); served directly it
    would silently be missing, so such a route cannot be served directly."""
    dependant = route.dependant
    return (
        dependant.request_param_name is not None
        and not (dependant.query_params or dependant.header_params or dependant.cookie_params)
        and not (dependant.body_params or dependant.dependencies)
        and dependant.background_tasks_param_name is None
        and dependant.response_param_name is None
    )


class DirectRoutes:
    """Serve ``routes`` (POST) by calling their endpoints; pass every other request to ``app``."""

    def __init__(self, app: ASGIApp, routes: Sequence[APIRoute], handlers: Mapping[Any, Handler]) -> None:
        for route in routes:
            if route.methods != {"POST"} or not _takes_only_the_request_and_its_path(route):
                raise TypeError(f"{route.path} cannot be served directly: it must be a POST taking only the "
                                "request and its path parameters")  # fmt: skip
        self.app = app
        self.routes = tuple(routes)
        self.handlers = handlers

    def _handler(self, error: Exception) -> Handler | None:
        return next((self.handlers[kind] for kind in type(error).__mro__ if kind in self.handlers), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            for route in self.routes:
                if (match := route.path_regex.match(path)) is not None:
                    await self._serve(route, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(
        self, route: APIRoute, raw: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        params = {name: route.param_convertors[name].convert(value) for name, value in raw.items()}
        scope["path_params"], scope["route"], scope["endpoint"] = params, route, route.endpoint
        request = Request(scope, receive)
        try:
            response: Response = await route.endpoint(request, **params)
        except Exception as error:  # the endpoint returns its response whole: none of it is sent yet
            handler = self._handler(error)
            if handler is None:
                raise
            answered = handler(request, error)
            response = await answered if inspect.isawaitable(answered) else answered
        await response(scope, receive, send)
