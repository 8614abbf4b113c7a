#!/usr/bin/env python3
"""Set up Kengele in ./.venv from the hashed lock file, then run the demo or the test suite.

    python3 dev.py demo [kengele demo options]   the embedded default: SQLite, demo region, console SMS
    python3 dev.py test [pytest options]         ruff, then the whole suite on SQLite and on PostgreSQL

Needs only Python 3.11+. PostgreSQL is expected on 127.0.0.1:5432 (trust auth, user postgres);
when it is down, `test` tries to start the local cluster and fails if it cannot.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCK = ROOT / "requirements-dev.lock"
PG_ADDRESS = ("127.0.0.1", 5432)


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(a) for a in args], cwd=ROOT, env=env)


def ensure_environment() -> None:
    """Create .venv and install the locked dependencies and Kengele itself, once per lock-file change."""
    if sys.version_info < (3, 11):
        sys.exit(f"Kengele needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        say(f"creating virtual environment in {VENV}")
        try:
            venv.create(VENV, with_pip=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.exit(f"[dev] cannot create {VENV} ({exc}); on Debian/Ubuntu install python3-venv")
    digest = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    stamp = VENV / f".installed-{digest}"
    if stamp.exists():
        return
    say("installing locked dependencies (first run only; a few minutes)")
    pip = [BIN / "python", "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    if run(*pip, "--require-hashes", "-r", LOCK) or run(*pip, "--no-deps", "-e", ROOT):
        sys.exit("[dev] installing dependencies failed (see pip's message above)")
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def postgres_up() -> bool:
    try:
        with socket.create_connection(PG_ADDRESS, timeout=2):
            return True
    except OSError:
        return False


def ensure_postgres() -> None:
    """Make sure PostgreSQL answers on 127.0.0.1:5432, starting the local cluster if needed."""
    if postgres_up():
        return
    clusters = sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").exists() else []
    for cluster in clusters:
        say(f"PostgreSQL is down; starting cluster {cluster.parent.name}/main")
        run("pg_ctlcluster", "--skip-systemctl-redirect", cluster.parent.name, "main", "start")
    for _ in range(30):
        if postgres_up():
            return
        time.sleep(1)
    sys.exit("[dev] PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started; the suite needs it")


CHROMIUM = Path("/usr/bin/chromium")


def ensure_chromium() -> None:
    """The browser tests drive Debian's chromium; install it when missing and this machine can (root, apt)."""
    if CHROMIUM.exists():
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        say("installing chromium for the browser tests (apt-get, once)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if run("apt-get", "install", "-y", "-q", "chromium", env=env):
            run("apt-get", "update", "-q", env=env)
            run("apt-get", "install", "-y", "-q", "chromium", env=env)
    if not CHROMIUM.exists():
        say("chromium is not installed: the browser tests will be skipped (apt-get install chromium)")


def test(pytest_args: list[str]) -> int:
    """Lint, then run the suite once per database backend; fail if either fails or runs nothing."""
    if run(BIN / "ruff", "check", "."):
        say("ruff found problems")
        return 1
    ensure_postgres()
    ensure_chromium()
    results = {}
    for backend in ("sqlite", "postgresql"):
        say(f"test suite on {backend}")
        env = {**os.environ, "KENGELE_TEST_DATABASE": backend}
        # --durations: the slowest tests in every CI log, where the suite's time goes
        results[backend] = run(BIN / "python", "-m", "pytest", "--durations=15", *pytest_args, env=env)
    for backend, code in results.items():
        say(f"{backend}: {'passed' if code == 0 else f'FAILED (pytest exit {code})'}")
    return 0 if all(code == 0 for code in results.values()) else 1


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print(__doc__)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return run(BIN / "kengele", "demo", *rest)
    if command == "test":
        return test(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
