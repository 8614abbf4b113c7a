"""Local servers for the notification tests: the fake Twilio API and a receiver for callbacks and webhooks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.notify.fake_twilio import BackgroundServer, FakeTwilioServer
from app.notify.ports import should_advance


@dataclass(frozen=True)
class Received:
    path: str
    url: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]


class Receiver:
    """Records every POST; answers with `status_code` after `delay`; folds status callbacks with should_advance."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.base_url = ""
        self.reset()
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    def reset(self) -> None:
        with self.lock:
            self.received: list[Received] = []
            self.statuses: dict[str, str] = {}
        self.status_code = 200
        self.delay = 0.0
        self.location: str | None = None

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        form = {}
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        entry = Received(request.url.path, str(request.url), dict(request.headers), body, form)
        with self.lock:
            self.received.append(entry)
            sid = form.get("MessageSid") or form.get("CallSid")
            status = form.get("MessageStatus") or form.get("CallStatus")
            if sid and status and should_advance(self.statuses.get(sid), status):
                self.statuses[sid] = status
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = {"Location": self.location} if self.location else None
        return Response(status_code=self.status_code, headers=headers)


@pytest.fixture(scope="session")
def twilio_server() -> Iterator[FakeTwilioServer]:
    with FakeTwilioServer() as server:
        yield server


@pytest.fixture
def fake_twilio(twilio_server: FakeTwilioServer) -> FakeTwilioServer:
    """The running fake Twilio, emptied for this test."""
    twilio_server.fake.clear()
    return twilio_server


@pytest.fixture(scope="session")
def _receiver_server() -> Iterator[tuple[Receiver, BackgroundServer]]:
    receiver = Receiver()
    with BackgroundServer(receiver.app) as server:
        yield receiver, server


@pytest.fixture
def receiver(_receiver_server) -> Receiver:
    """A local HTTP receiver, reset for this test; `receiver.base_url` is where it listens."""
    receiver, server = _receiver_server
    receiver.reset()
    receiver.base_url = server.base_url
    return receiver


@pytest.fixture
def dead_url() -> str:
    """The URL of a server that has just stopped: connections are refused."""
    server = BackgroundServer(Starlette()).start()
    url = server.base_url
    server.stop()
    return url
