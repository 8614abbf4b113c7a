"""Intake benchmark: Kengele's signed Twilio SMS webhook against a bare FastAPI baseline.

Starts each server as a real uvicorn subprocess (bare baseline, Kengele on SQLite, Kengele on
PostgreSQL when reachable), drives it from a separate process (bench/support/driver.py), prints a table and,
as the last line, one JSON object (also written to bench/results/intake.json). Kengele runs once per worker
layout (--workers-layout): with no worker running beside the API process, and with the embedded worker.

    .venv/bin/python bench/intake.py [--quick] [--seconds 5] [--rate 200] [--senders 1] [--postgres ADMIN_URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from support.databases import free_port, postgres_database, postgres_problem, sqlite_database
from support.plots import plot_intake

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "results" / "intake.json"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
FORMS_PER_SECOND_CEILING = 8000  # requests signed per saturation second; the run stops early if all are sent
# Where the inbox worker runs while the intake is measured. "none": the API process alone, as in production with
# `kengele worker` run apart and not busy during the run; "embedded": `kengele serve`'s default, the worker in
# the server process; "separate": a `kengele worker` process at nice 19 beside the API process.
WORKER_LAYOUTS = ("none", "embedded", "separate")
DEFAULT_LAYOUTS = "none,embedded"


@dataclass(frozen=True)
class Target:
    """One server to benchmark: how uvicorn loads it, its environment, and when it is ready."""

    name: str
    app: str
    app_dir: Path
    ready_path: str
    factory: bool = False
    env: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None
    worker: str = "none"  # none, embedded or separate (see WORKER_LAYOUTS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each timed run (default 5)")
    parser.add_argument("--rate", type=float, default=200.0, help="messages/s of the fixed-rate run (default 200)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections of the saturation run (default 32)")
    parser.add_argument("--postgres", default=DEFAULT_PG_ADMIN_URL, help="PostgreSQL admin URL ('' to skip)")
    parser.add_argument("--quick", action="store_true", help="1 s runs, shorter warm-up (a smoke test)")
    parser.add_argument(
        "--senders", type=int, default=1,
        help="phone numbers the messages come from in turn (default 1; 1000000: nearly every message a new one)",
    )  # fmt: skip
    parser.add_argument(
        "--workers-layout",
        default=DEFAULT_LAYOUTS,
        help=f"comma-separated worker layouts per database, the first one gives the headline keys "
        f"(of {', '.join(WORKER_LAYOUTS)}; default {DEFAULT_LAYOUTS})",
    )
    args = parser.parse_args(argv)
    args.layouts = [layout.strip() for layout in args.workers_layout.split(",") if layout.strip()]
    if not args.layouts or any(layout not in WORKER_LAYOUTS for layout in args.layouts):
        parser.error(f"--workers-layout takes a comma-separated list of {', '.join(WORKER_LAYOUTS)}")
    if args.quick:
        args.seconds = 1.0
    if args.seconds <= 0 or args.rate <= 0 or args.concurrency < 1:
        parser.error("--seconds and --rate must be positive, --concurrency at least 1")
    if not 1 <= args.senders <= 1_000_000:
        parser.error("--senders takes 1 to 1000000")
    return args


def base_env() -> dict[str, str]:
    """This process's environment without any KENGELE_ setting that could leak into a server."""
    return {key: value for key, value in os.environ.items() if not key.startswith("KENGELE_")}


def kengele_target(name: str, database_url: str, data_dir: Path, token: str, worker: str) -> Target:
    """Kengele in production mode with explicit secrets and a fresh data dir; the worker where `worker` says."""
    env = {
        "KENGELE_MODE": "production",
        "KENGELE_DATABASE_URL": database_url,
        "KENGELE_DATA_DIR": str(data_dir),
        "KENGELE_SECRET_KEY": secrets.token_urlsafe(48),
        "KENGELE_TWILIO_AUTH_TOKEN": token,
        "KENGELE_EMBEDDED_WORKER": "true" if worker == "embedded" else "false",
        "KENGELE_LOG_LEVEL": "WARNING",
    }
    app = "app.main:create_app"
    return Target(name, app, PROJECT_ROOT, "/readyz", factory=True, env=env, database_url=database_url, worker=worker)


def worker_command() -> list[str]:
    """`kengele worker` at the lowest CPU priority, so that it uses only what the API process leaves."""
    return ["nice", "-n", "19", str(Path(sys.executable).with_name("kengele")), "worker"]


def inbox_progress(database_url: str | None) -> dict[str, int] | None:
    """How many inbox rows the run stored and how many of them a worker has already processed."""
    if database_url is None:
        return None
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            stored, processed = connection.execute(
                text("SELECT count(*), count(processed_at) FROM inbound_message")
            ).one()
    finally:
        engine.dispose()
    return {"stored": stored, "processed": processed}


def server_command(target: Target, port: int) -> list[str]:
    """The same uvicorn settings for every target: one process, no access log."""
    command = [sys.executable, "-m", "uvicorn", target.app, "--app-dir", str(target.app_dir)]
    command += ["--host", HOST, "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]
    return [*command, "--factory"] if target.factory else command


def wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    """Poll `url` until it answers 200; fail if the server exits or the deadline passes."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready at {url} after {READY_TIMEOUT_SECONDS:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server we started, killing it if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_SECONDS)


@contextlib.contextmanager
def running(target: Target, workdir: Path) -> Iterator[str]:
    """Run the target's server (and its separate worker) for the duration of the block; yield its base URL."""
    port = free_port()
    log_path = workdir / f"{target.name}.log"
    with log_path.open("wb") as log:
        env = {**base_env(), **target.env}
        process = subprocess.Popen(
            server_command(target, port),
            cwd=workdir,  # no stray .env from the project directory
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        worker = None
        try:
            base_url = f"http://{HOST}:{port}"
            try:
                wait_ready(process, base_url + target.ready_path)
            except RuntimeError:
                log.flush()
                sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
                raise
            if target.worker == "separate":
                worker = subprocess.Popen(worker_command(), cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
            yield base_url
        finally:
            if worker is not None:
                stop(worker)
            stop(process)


def drive(base_url: str, token: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run bench/support/driver.py in its own process against base_url and return its JSON result."""
    spec = {
        "url": base_url + "/twilio/sms",
        "token": token,
        "seconds": args.seconds,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "max_requests": int(args.seconds * FORMS_PER_SECOND_CEILING),
        "max_connections": max(256, args.concurrency),
        "warmup": 100 if args.quick else 500,
        "settle_seconds": 0.5 if args.quick else 2.0,
        "senders": args.senders,
    }
    budget = 120 + 4 * args.seconds
    completed = subprocess.run(
        [sys.executable, str(BENCH_DIR / "support" / "driver.py"), json.dumps(spec)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=budget,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"driver failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def bench(target: Target, token: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start the target, drive it, see how far its worker got, stop it."""
    print(f"- {target.name}: starting", flush=True)
    with running(target, workdir) as base_url:
        result = drive(base_url, token, args)
        result["inbox"] = inbox_progress(target.database_url)
    print(f"- {target.name}: {result['saturation']['rps']:.0f} req/s", flush=True)
    return result


def target_name(database: str, layout: str, args: argparse.Namespace) -> str:
    """The database's name for the headline layout (the first one), else e.g. "sqlite_embedded"."""
    return database if layout == args.layouts[0] else f"{database}_{layout}"


def run_all(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Benchmark bare, SQLite and (if reachable) PostgreSQL one after the other; return results and skip note."""
    token = secrets.token_hex(16)
    results = {
        "bare": bench(Target("bare", "bare_app:app", BENCH_DIR / "support", "/openapi.json"), token, args, workdir)
    }
    for layout in args.layouts:  # a fresh database per run: a backlog left by one run must not slow the next
        name = target_name("sqlite", layout, args)
        target = kengele_target(name, sqlite_database(workdir), workdir / f"{name}-data", token, layout)
        results[name] = bench(target, token, args, workdir)
    skipped = postgres_problem(args.postgres) if args.postgres else "no --postgres URL given"
    if skipped:
        print(f"- postgres: skipped ({skipped})", flush=True)
        return results, skipped
    for layout in args.layouts:
        name = target_name("postgres", layout, args)
        with postgres_database(args.postgres) as url:
            target = kengele_target(name, url, workdir / f"{name}-data", token, layout)
            results[name] = bench(target, token, args, workdir)
    return results, None


def failures(result: dict[str, Any]) -> int:
    """Non-2xx answers and transport errors over both timed runs of one target."""
    runs = (result["fixed_rate"], result["saturation"])
    return sum(run["requests"] - run["ok"] for run in runs)


def rounded(value: float | None, digits: int = 1) -> float | None:
    """Round for the report, keeping None."""
    return None if value is None else round(value, digits)


def summary(results: dict[str, dict[str, Any]], args: argparse.Namespace, skipped: str | None) -> dict[str, Any]:
    """The flat JSON record of the run."""
    bare_rps = results["bare"]["saturation"]["rps"]
    rate = f"{args.rate:g}".replace(".", "_")
    record: dict[str, Any] = {"bare_rps": round(bare_rps, 1)}
    names = ["bare"] + [target_name(db, layout, args) for db in ("sqlite", "postgres") for layout in args.layouts]
    for name in names:
        result = results.get(name)
        latency = result["fixed_rate"] if result else {}
        if name != "bare":
            rps = result["saturation"]["rps"] if result else None
            record[f"{name}_rps"] = rounded(rps)
            record[f"{name}_ratio_to_bare"] = None if rps is None else round(rps / bare_rps, 3)
        record[f"{name}_p50_ms"] = rounded(latency.get("p50_ms"))
        record[f"{name}_p95_ms"] = rounded(latency.get("p95_ms"))
        record[f"{name}_p99_ms_at_{rate}_per_s"] = rounded(latency.get("p99_ms"))
    record["errors"] = sum(failures(result) for result in results.values())
    record["errors_by_target"] = {name: failures(result) for name, result in results.items()}
    record["statuses"] = {
        name: {run: result[run]["statuses"] for run in ("fixed_rate", "saturation")} for name, result in results.items()
    }
    record["inbox"] = {name: result.get("inbox") for name, result in results.items() if name != "bare"}
    record["postgres_skipped"] = skipped
    record["settings"] = {
        "seconds": args.seconds,
        "rate_per_s": args.rate,
        "concurrency": args.concurrency,
        "senders": args.senders,
        # What the headline keys (sqlite_*, postgres_*) measured, and what the suffixed ones did.
        "worker": {target_name("sqlite", layout, args).removeprefix("sqlite"): layout for layout in args.layouts},
    }
    record["machine"] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    record["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return record


def print_table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    """A human-readable table of both runs per target."""
    bare_rps = results["bare"]["saturation"]["rps"]
    print(f"\nsaturation: {args.concurrency} connections for {args.seconds:g} s; fixed rate: {args.rate:g}/s")
    row = "{:<18} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}"
    print(row.format("target", "req/s", "vs bare", "done/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "non-2xx"))
    for name, result in results.items():
        sat, lat = result["saturation"], result["fixed_rate"]
        cells = [f"{sat['rps']:.0f}", f"{sat['rps'] / bare_rps:.0%}", f"{lat['completed_per_s']:.0f}"]
        cells += ["-" if lat[key] is None else f"{lat[key]:.1f}" for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms")]
        print(row.format(name, *cells, failures(result)))
        if sat["exhausted"]:
            print(f"          (saturation stopped early: all {sat['requests']} pre-signed requests were sent)")
    print(f"worker layout: {args.layouts[0]} for the rows without a suffix, else the suffix (see WORKER_LAYOUTS)")
    print()


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """Turn SIGTERM into SystemExit so the `finally` blocks stop the servers and drop the database."""
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the last line printed is the JSON record."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="kengele-bench-") as tmp:
        results, skipped = run_all(args, Path(tmp))
    print_table(results, args)
    record = summary(results, args, skipped)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(record, indent=2) + "\n")
    plot_intake(record, RESULTS_FILE.with_suffix(".png"))
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
