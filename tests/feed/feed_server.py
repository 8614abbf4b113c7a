"""`kengele serve`'s application plus the feed's wiring, for tests that run servers as processes.

Run as `python -m uvicorn tests.feed.feed_server:create --factory`. FEEDTEST_LISTEN=1 starts the feed's listener
with the app (as app.main's lifespan will); FEEDTEST_POLL_SECONDS and FEEDTEST_PING_SECONDS set the stream's
timings. Once app.main includes the feed, this adds nothing that is already there.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.feed import stream
from app.main import create_app
from tests.feed.conftest import with_feed


def create() -> FastAPI:
    """The application as `kengele serve` builds it, with the feed's routes and (optionally) its listener."""
    stream.POLL_SECONDS = float(os.environ.get("FEEDTEST_POLL_SECONDS", stream.POLL_SECONDS))
    stream.PING_SECONDS = float(os.environ.get("FEEDTEST_PING_SECONDS", stream.PING_SECONDS))
    app = with_feed(create_app())
    if os.environ.get("FEEDTEST_LISTEN") == "1":
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(started: FastAPI) -> AsyncIterator[None]:
            async with inner(started):
                stream.start_feed(started.state)
                try:
                    yield
                finally:
                    stream.stop_feed(started.state)

        app.router.lifespan_context = lifespan
    return app
