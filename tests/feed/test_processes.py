"""The feed across real server processes sharing one database: published by one, streamed by another."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import SECRET_KEY, TWILIO_TOKEN
from tests.deployment import token_for
from tests.feed.conftest import STREAM_PATH
from tests.feed.sse import FeedReader
from tests.helpers import post_sms, sms_form
from tests.live_server import free_port, kengele_env, running, wait_ready

PROJECT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    log: Path


@pytest.fixture
def env(settings) -> dict[str, str]:
    return kengele_env(database_url=settings.database_url, secret_key=SECRET_KEY, twilio_auth_token=TWILIO_TOKEN)


@contextlib.contextmanager
def feed_server(env: dict[str, str], workdir: Path, *, listen: bool, poll: float) -> Iterator[Server]:
    """The application with the feed wired in, as its own server process without a worker (it only streams)."""
    workdir.mkdir()
    port, log = free_port(), workdir / "server.log"
    settings = {"KENGELE_DATA_DIR": str(workdir), "KENGELE_EMBEDDED_WORKER": "false", "FEEDTEST_PING_SECONDS": "0.2",
                "FEEDTEST_POLL_SECONDS": str(poll), "FEEDTEST_LISTEN": "1" if listen else "0"}  # fmt: skip
    command = [sys.executable, "-m", "uvicorn", "tests.feed.feed_server:create", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--app-dir", str(PROJECT)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, env={**env, **settings}, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        try:
            wait_ready(server.base, process)
            yield server
        finally:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(15)
            process.kill()


def publisher(env: dict[str, str], workdir: Path) -> contextlib.AbstractContextManager[str]:
    """A plain `kengele serve` (its worker embedded): the SMS arrives and becomes an incident there."""
    workdir.mkdir()
    return running(["serve"], {**env, "KENGELE_DATA_DIR": str(workdir)}, workdir, workdir / "server.log")


def send_sms(base: str, body: str) -> None:
    with httpx.Client() as client:
        answer = post_sms(client, sms_form(From="+23672110004", Body=body), url=f"{base}/twilio/sms")
    assert answer.status_code == 200, answer.text


def viewer_token(base: str, factory) -> dict[str, str]:
    with httpx.Client(base_url=base) as client:
        return token_for(client, factory, "viewer")


def delay(message) -> float:
    """Seconds from the change (its publication, a little before the commit) to the client receiving it."""
    return message.received - datetime.fromisoformat(message.json()["at"]).timestamp()


def test_an_event_published_by_one_server_reaches_a_client_of_another_through_notify(
    env, factory, deployment, backend, tmp_path
):
    if backend != "postgresql":
        pytest.skip("several server processes need PostgreSQL")
    # Polling every 30 s: within 2 s, only NOTIFY can have brought it.
    with (
        feed_server(env, tmp_path / "b", listen=True, poll=30) as streaming,
        publisher(env, tmp_path / "a") as receiving,
        FeedReader(streaming.base + STREAM_PATH, viewer_token(streaming.base, factory)) as reader,
    ):
        reader.following()
        send_sms(receiving, "Attaque des hommes armés à Bria, 12 morts")
        created = reader.event(timeout=15)
    assert created.event == "incident.created"
    assert delay(created) < 2.0


def test_without_the_listener_another_servers_events_arrive_by_polling(env, factory, deployment, tmp_path):
    # How it runs before app.main starts the listener, and on SQLite always (one writer, no NOTIFY).
    with (
        feed_server(env, tmp_path / "b", listen=False, poll=0.5) as streaming,
        publisher(env, tmp_path / "a") as receiving,
        FeedReader(streaming.base + STREAM_PATH, viewer_token(streaming.base, factory)) as reader,
    ):
        reader.following()
        send_sms(receiving, "Attaque des hommes armés à Bria, 12 morts")
        created = reader.event(timeout=15)
    assert created.event == "incident.created"
    assert delay(created) < 2.0


def test_a_server_shutting_down_ends_its_streams_cleanly(env, factory, backend, tmp_path):
    with feed_server(env, tmp_path / "b", listen=backend == "postgresql", poll=0.5) as server:
        with FeedReader(server.base + STREAM_PATH, viewer_token(server.base, factory)) as reader:
            reader.following()
            started = time.monotonic()
            server.process.terminate()
            while reader.next(timeout=10) is not None:
                pass  # pings until the server closes the stream
            assert time.monotonic() - started < 5
        assert server.process.wait(10) in (0, -15)  # uvicorn re-raises the SIGTERM it handled
    log = server.log.read_text()
    assert "Traceback" not in log and "ERROR" not in log
