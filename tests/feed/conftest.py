"""Fixtures for the live feed: the test application served by a real HTTP server (uvicorn in a thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI

from app.feed import router as feed_router
from app.feed import stream
from tests.live_server import free_port

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
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning",
                       timeout_graceful_shutdown=2)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, name="uvicorn-feed", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    stream.start_feed(app.state)
    yield f"http://127.0.0.1:{server.config.port}"
    stream.stop_feed(app.state)
    server.should_exit = True
    thread.join(10)
