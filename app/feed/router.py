"""The live feed over HTTP: server-sent events for the operations centre, resumable with Last-Event-ID."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sse_starlette.sse import EventSourceResponse

from app.core.db import transaction
from app.feed import stream
from app.operators.dependencies import current_operator, requires
from app.operators.models import Operator, Role

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


def stream_viewer(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Operator:
    """A viewer (or higher) by bearer token, checked in a transaction of its own that ends before streaming."""
    # Not the Viewer alias: its request session would stay open for the stream's whole life (on SQLite, with the
    # write lock), since a dependency's cleanup runs only after the response has been sent.
    with transaction(request.app.state.sessionmaker) as session:
        operator = current_operator(session, request.app.state.vault, credentials)
        return requires(Role.viewer)(operator)


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
