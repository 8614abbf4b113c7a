"""ASGI middleware refusing request bodies above a size limit, declared or streamed."""

from __future__ import annotations

from typing import Any

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Answer 413 when a request body exceeds `max_bytes`, without buffering it first."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self.too_large(scope, receive, send)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self.too_large(scope, receive, send)

    async def too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The 413 answer (built only when needed: most requests never get it)."""
        response = PlainTextResponse(f"request body larger than {self.max_bytes} bytes", status_code=413)
        await response(scope, receive, send)


def declared_length(scope: Scope) -> bytes | None:
    """The request's Content-Length header as sent (the last one, as `dict` of the headers would give), or None."""
    declared = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            declared = value
    return declared
