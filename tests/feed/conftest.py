"""Fixtures for the live feed: the test application served by a real HTTP server (uvicorn in a thread)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from app.feed import router as feed_router
from app.feed import stream
from tests.live_server import served_in_thread

STREAM_PATH = "/api/v1/feed/stream"


def with_feed(app: FastAPI) -> FastAPI:
    """The app with the feed's routes, whether or not app.main includes them yet."""
    if not any(getattr(route, "path", None) == STREAM_PATH for route in app.routes):
        app.include_router(feed_router.router)
    return app


@pytest.fixture(autouse=True)
def quick_feed(monkeypatch) -> None:
    """Pings every 0.2 s (so idle readers notice a closed stream) and a 0.5 s poll."""
    monkeypatch.setattr(stream, "PING_SECONDS", 0.2)
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.5)


@pytest.fixture
def live(kengele) -> Iterator[str]:
    """The kengele fixture's app behind a real server, with the feed's listener started as the lifespan will."""
    app = with_feed(kengele.client.app)
    with served_in_thread(app, "uvicorn-feed") as base:
        yield base
