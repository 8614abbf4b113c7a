"""A route class for hot endpoints that take only the Request: documented as usual, called without solving."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Response
from fastapi.routing import APIRoute


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
