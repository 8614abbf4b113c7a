"""Run `kengele` as a real process (server or command) for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

KENGELE = shutil.which("kengele", path=str(Path(sys.executable).parent)) or "kengele"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kengele_env(**settings: str) -> dict[str, str]:
    """The parent environment without KENGELE_ settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KENGELE_")}
    env.update({f"KENGELE_{k.upper()}": v for k, v in settings.items()})
    return env


def twilio_worker_env(database_url: str, data_dir: Path, twilio_api_base: str, **settings: str) -> dict[str, str]:
    """A production `kengele` process on the test database whose SMS and calls go to the fake Twilio."""
    from app.notify.fake_twilio import MAGIC_FROM
    from tests.conftest import SECRET_KEY, TWILIO_ACCOUNT, TWILIO_TOKEN

    return kengele_env(
        database_url=database_url, data_dir=str(data_dir), secret_key=SECRET_KEY, twilio_auth_token=TWILIO_TOKEN,
        twilio_account_sid=TWILIO_ACCOUNT, twilio_from_number=MAGIC_FROM, twilio_api_base=twilio_api_base,
        public_base_url="http://127.0.0.1:9", mode="production", **settings,
    )  # fmt: skip


def wait_ready(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kengele exited early with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{base} did not become ready")


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[str]:
    """Start `kengele <args> --port P`, wait for /readyz, yield the base URL, stop it."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [KENGELE, *args, "--port", str(port)], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, process)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([KENGELE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def served_in_thread(app: Any, name: str) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on 127.0.0.1 (the feed's listener started as the lifespan
    would); yield its base URL, stop it afterwards."""
    import threading

    import uvicorn

    from app.feed import stream

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), lifespan="off", log_level="warning",
                       timeout_graceful_shutdown=2)
    )  # fmt: skip
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    stream.start_feed(app.state)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        stream.stop_feed(app.state)
        server.should_exit = True
        thread.join(10)
