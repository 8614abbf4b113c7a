"""Security headers on every response: no sniffing, no framing, no referrer, no caching of personal data."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The API answers JSON, XML and CSV only: nothing in it may run, load or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000; includeSubDomains"
RawHeaders = tuple[tuple[bytes, bytes], ...]
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", API_CSP),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    # Answers may hold masked numbers, texts and places: never kept by a browser or a proxy.
    ("Cache-Control", "no-store"),
)


def raw_headers(https: bool) -> RawHeaders:
    """The security headers as ASGI raw header pairs (lower-case names), HSTS only when served over HTTPS."""
    pairs = (*SECURITY_HEADERS, ("Strict-Transport-Security", HSTS)) if https else SECURITY_HEADERS
    return tuple((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs)


class SecurityHeaders:
    """Add the headers a response has not set itself (the dashboard sets its own CSP and caching)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        # Encoded once: on every response only the names the response already has are looked up.
        self.headers = raw_headers(https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_defaults(message.get("headers", ()), self.headers)
            await send(message)

        await self.app(scope, receive, with_headers)


def with_defaults(headers: Iterable[tuple[bytes, bytes]], defaults: RawHeaders) -> list[tuple[bytes, bytes]]:
    """`headers` plus each default whose name is not among them (names compared case-insensitively)."""
    pairs = list(headers)
    present = {name.lower() for name, _ in pairs}
    return pairs + [pair for pair in defaults if pair[0] not in present]
