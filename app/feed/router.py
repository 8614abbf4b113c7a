"""The live feed over HTTP: server-sent events for the operations centre, resumable with Last-Event-ID."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sse_starlette.sse import EventSourceResponse

from app.feed import stream
from app.operators.dependencies import SESSION_COOKIE, streaming_viewer
from app.operators.models import Operator

router = APIRouter(prefix="/api/v1/feed", tags=["feed"])
_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/token")
STREAM_RESPONSES = {
    200: {"content": {"text/event-stream": {}}, "description": "`id:` feed position, `event:` kind, `data:` JSON"},
    401: {"description": "No, or no live, bearer token"},
    403: {"description": "Role too low"},
}
# A client that stops reading is dropped rather than buffered for without end.
SEND_TIMEOUT_SECONDS = 30
# How long a stream may take to finish on shutdown before it is cut (it ends within a read of the table).
SHUTDOWN_GRACE_SECONDS = 5
_COOKIE_FLAG = "feed_accepts_session_cookie"


def stream_viewer(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Operator:
    """A viewer (or higher) by bearer token, or by session cookie once the dashboard is installed (streaming_viewer)."""
    # A flag, not app.dependency_overrides: while an app has any override, FastAPI rebuilds every dependency of
    # every route on every request (inspect.signature, annotations evaluated), whichever route is called.
    cookie = request.cookies.get(SESSION_COOKIE) if getattr(request.app.state, _COOKIE_FLAG, False) else None
    return streaming_viewer(request, credentials, cookie or None)


def accept_session_cookie(app: FastAPI) -> None:
    """Let the stream accept the dashboard's session cookie as well as a bearer token (same checks)."""
    setattr(app.state, _COOKIE_FLAG, True)


@router.get("/stream", response_class=EventSourceResponse, responses=STREAM_RESPONSES)
async def feed_stream(
    request: Request,
    _: Annotated[Operator, Depends(stream_viewer)],
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0)] = None,
    after: Annotated[
        int | None, Query(alias="last_event_id", ge=0, description="for clients that cannot send Last-Event-ID")
    ] = None,
) -> EventSourceResponse:
    """Stream feed events after Last-Event-ID (or from now), then each one as it commits."""
    start = last_event_id if last_event_id is not None else after
    closing = anyio.Event()  # set by sse-starlette when the server shuts down: the stream then ends by itself
    return EventSourceResponse(
        stream.follow(request.app.state.sessionmaker, start, closing),
        ping=stream.PING_SECONDS,
        send_timeout=SEND_TIMEOUT_SECONDS,
        shutdown_event=closing,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )
