"""Hot endpoints: a route class that takes only the Request, and an app that serves such routes ahead of the stack."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class RequestOnlyRoute(APIRoute):
    """An APIRoute whose endpoint takes the Request and nothing else, and returns a Response: called as it is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = set(inspect.signature(self.endpoint).parameters)
        # A parameter or dependency added later would be silently ignored here: refuse to build the route instead.
        if self.dependant.dependencies or names != {self.dependant.request_param_name}:
            raise TypeError(f"{self.path}: a RequestOnlyRoute endpoint takes the Request and nothing else")

    def get_route_handler(self) -> Callable[[Any], Coroutine[Any, Any, Response]]:
        """The endpoint itself (FastAPI's handler would solve parameters and dependencies there are none of)."""
        # That solving costs ~40 µs a request even with nothing to solve: more than checking a Twilio signature.
        return self.endpoint


class HotPathApp(FastAPI):
    """FastAPI that serves each fixed-path RequestOnlyRoute straight from the server, inside the app's own middleware.

    Every other request takes the whole stack. A hot request keeps what answers and protects it: the user middleware
    (security headers, body limit, CORS), the registered exception handlers and the 500 answer. It skips what costs
    more than the endpoint's own checks and does nothing for it: telemetry, FastAPI's body limit and exit stack, and a
    route search over every path.
    """

    _hot_paths: dict[tuple[str, str], ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._hot_paths is None:
                self._hot_paths = self._build_hot_paths()
            # The exact path only: with a root path, a trailing slash or another method, the stack decides.
            hot = self._hot_paths.get((scope["method"], scope["path"]))
            if hot is not None and not scope.get("root_path"):
                scope["app"] = self
                await hot(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _build_hot_paths(self) -> dict[tuple[str, str], ASGIApp]:
        """(method, path) → the endpoint wrapped in the user middleware and the 500 answer, as the stack has them."""
        # Split as Starlette splits them: 500 and Exception answer crashes, the rest answer what endpoints raise.
        crash = self.exception_handlers.get(500) or self.exception_handlers.get(Exception)
        handlers = {key: value for key, value in self.exception_handlers.items() if key not in (500, Exception)}
        hot: dict[tuple[str, str], ASGIApp] = {}
        for route in iter_route_contexts(self.routes):  # with the prefixes and dependencies of include_router
            if not isinstance(route.original_route, RequestOnlyRoute) or route.param_convertors:
                continue
            if route.dependant.dependencies:
                raise TypeError(f"{route.path}: a RequestOnlyRoute cannot be included with dependencies")
            app: ASGIApp = _HotEndpoint(route.endpoint, handlers)
            for middleware in reversed(self.user_middleware):
                app = middleware.cls(app, *middleware.args, **middleware.kwargs)
            # Outermost, as in the stack: an exception no handler takes (nor the middleware: a body over the limit
            # is answered 413 by BodySizeLimit) becomes a 500, and goes on to the server's log.
            app = ServerErrorMiddleware(app, handler=crash, debug=self.debug)
            hot.update({(method, route.path): app for method in route.methods})
        return hot


class _HotEndpoint:
    """Call the endpoint with the Request and send its Response; an exception goes to its registered handler."""

    def __init__(self, endpoint: Endpoint, handlers: dict[Any, Callable[..., Any]]) -> None:
        self.endpoint = endpoint
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Callable[..., Any] | None:
        """The handler Starlette's ExceptionMiddleware would pick: by status code for HTTP errors, else by class."""
        if isinstance(exc, HTTPException) and exc.status_code in self.handlers:
            return self.handlers[exc.status_code]
        return next((self.handlers[cls] for cls in type(exc).__mro__ if cls in self.handlers), None)
