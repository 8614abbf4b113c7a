"""Processes the benchmarks start (servers, workers): a clean environment, a log file, a bounded stop."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def clean_env(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without KENGELE_ settings, plus the given ones."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KENGELE_")}
    return {**env, **settings}


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process we started, killing it if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def log_tail(path: Path) -> str:
    """The end of a process log, for error messages."""
    return path.read_text(errors="replace")[-3000:]


@dataclass(frozen=True)
class Background:
    """A process started by the bench, and its log."""

    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def background(command: list[str], env: dict[str, str], workdir: Path, name: str) -> Iterator[Background]:
    """Run a process for the duration of the block (logging to workdir/name.log); stop it afterwards."""
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        # cwd=workdir: no stray .env from the project directory reaches the process.
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield Background(process, log_path)
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{log_tail(log_path)}")
        finally:
            stop(process)


def wait_ready(server: Background, url: str, timeout: float = READY_TIMEOUT) -> None:
    """Poll `url` until it answers 200; fail with the log's tail if the process exits or is late."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"not ready at {url}:\n{log_tail(server.log)}")


def uvicorn_command(app: str, port: int, *, app_dir: Path, factory: bool = False) -> list[str]:
    """uvicorn as bench/intake.py runs it: one process on 127.0.0.1, no access log, warnings only."""
    command = [sys.executable, "-m", "uvicorn", app, "--app-dir", str(app_dir), "--host", HOST, "--port", str(port)]
    command += ["--workers", "1", "--no-access-log", "--log-level", "warning"]
    return [*command, "--factory"] if factory else command
