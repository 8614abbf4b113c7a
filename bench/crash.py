"""Crash benchmark: tests/reliability's scenarios run bigger, their counts printed and kept.

Real `kengele serve` and `kengele worker` processes under a signed Twilio SMS load, checked against a fake Twilio:
kill -9 of the server and the worker (SQLite and PostgreSQL), a worker killed mid-send, PostgreSQL stopped for
30 s (a throwaway cluster, never the shared server), two servers and two workers on PostgreSQL. Prints one line
per scenario, then one JSON object as the last line (also written to bench/results/crash.json).

    .venv/bin/python bench/crash.py [--quick] [--seed 9] [--kills 5] [--postgres ADMIN_URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(PROJECT_ROOT))  # tests.reliability holds the scenarios the tests run small

from support.databases import postgres_database, postgres_problem, sqlite_database  # noqa: E402

from app.notify.fake_twilio import FakeTwilioServer  # noqa: E402
from tests.conftest import TWILIO_ACCOUNT, TWILIO_TOKEN  # noqa: E402
from tests.reliability import harness, pgcluster  # noqa: E402

RESULTS_FILE = BENCH_DIR / "results" / "crash.json"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Each scenario's counts that must be zero for the run to pass.
MUST_BE_ZERO = ("lost", "duplicates", "duplicate_rows")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the tests' sizes (a smoke test, ~5 min)")
    parser.add_argument("--seed", type=int, default=9, help="seed of the kill moments and the messages (default 9)")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs of the server and of the worker (default 5)")
    parser.add_argument("--postgres", default=DEFAULT_PG_ADMIN_URL, help="PostgreSQL admin URL ('' to skip)")
    return parser.parse_args(argv)


def plans(args: argparse.Namespace) -> dict[str, harness.Plan]:
    """The scenarios' sizes: the tests' with --quick, otherwise about three times the load and `--kills` kills."""
    seed = args.seed
    if args.quick:
        tests = {"crash": harness.CRASH, "outage": harness.OUTAGE, "multiprocess": harness.MULTIPROCESS}
        return {name: replace(plan, seed=seed) for name, plan in tests.items()}
    big = {"seed": seed, "drain_timeout": 240.0}
    kills = args.kills
    return {
        "crash": harness.Plan(messages=480, rate=8.0, events=12, server_kills=kills, worker_kills=kills, **big),
        "outage": harness.Plan(messages=600, rate=10.0, events=12, outage_at=10.0, outage_seconds=30.0, **big),
        "multiprocess": harness.Plan(messages=720, rate=12.0, events=12, apis=2, workers=2, **big),
    }  # fmt: skip


def scenario(name: str, results: dict[str, Any], run: Callable[[], harness.Audit]) -> None:
    """Run one scenario; keep its counts and problems under `name` (an error is a problem too)."""
    print(f"- {name}: running", flush=True)
    try:
        result = run()
    except Exception as exc:  # one scenario failing must not hide the others' figures
        results[name] = {"problems": [f"{type(exc).__name__}: {exc}"]}
    else:
        results[name] = {**result.counts, "problems": result.problems}
        print(f"  {harness.summary_line(name, result)}", flush=True)
    for problem in results[name]["problems"]:
        print(f"  PROBLEM: {problem}", flush=True)


def run_all(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Every scenario on every database it applies to; returns the results and why any was skipped."""
    sizes = plans(args)
    results: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    quiet: Callable[[str], None] = lambda _line: None  # noqa: E731 - the process logs stay in workdir

    def fresh_sqlite(tag: str) -> str:
        url = sqlite_database(workdir / tag)
        harness.load_demo(url)
        return url

    with FakeTwilioServer(account_sid=TWILIO_ACCOUNT, auth_token=TWILIO_TOKEN) as fake:
        for tag in ("crash-sqlite", "mid-send-kill-sqlite"):
            (workdir / tag).mkdir()
        url = fresh_sqlite("crash-sqlite")
        scenario("crash_sqlite", results, lambda: harness.run(sizes["crash"], url, workdir / "crash-sqlite", fake))
        url2 = fresh_sqlite("mid-send-kill-sqlite")
        scenario("mid_send_kill_sqlite", results,
                 lambda: harness.run_mid_send_kill(url2, workdir / "mid-send-kill-sqlite", seed=args.seed))  # fmt: skip

        problem = postgres_problem(args.postgres) if args.postgres else "no --postgres URL given"
        if problem:
            for name in ("crash_postgresql", "mid_send_kill_postgresql", "multiprocess_postgresql"):
                skipped[name] = problem
        else:
            for name, run in (
                ("crash_postgresql", lambda u, d: harness.run(sizes["crash"], u, d, fake)),
                ("mid_send_kill_postgresql", lambda u, d: harness.run_mid_send_kill(u, d, seed=args.seed)),
                ("multiprocess_postgresql", lambda u, d: harness.run(sizes["multiprocess"], u, d, fake)),
            ):
                with postgres_database(args.postgres) as pg_url:
                    harness.load_demo(pg_url)
                    (workdir / name).mkdir()
                    scenario(name, results, lambda run=run, pg_url=pg_url, name=name: run(pg_url, workdir / name))

        cluster_problem = pgcluster.problem()
        if cluster_problem:
            skipped["outage_postgresql"] = cluster_problem
        else:

            def outage() -> harness.Audit:
                with pgcluster.throwaway_cluster() as cluster:
                    outage_url = cluster.create_database("kengele_outage")
                    harness.migrate(outage_url)
                    harness.load_demo(outage_url)
                    (workdir / "outage").mkdir()
                    return harness.run(sizes["outage"], outage_url, workdir / "outage", fake, outage=cluster,
                                       log=quiet)  # fmt: skip

            scenario("outage_postgresql", results, outage)
    for name in skipped:
        print(f"- {name}: skipped ({skipped[name]})", flush=True)
    return results, skipped


def summary(results: dict[str, Any], skipped: dict[str, str], args: argparse.Namespace, seconds: float
            ) -> dict[str, Any]:  # fmt: skip
    """The flat JSON record of the run: per scenario its counts, plus totals of what must be zero."""
    record: dict[str, Any] = {"scenarios": results, "skipped": skipped}
    for key in MUST_BE_ZERO:
        record[key] = sum(r.get(key, 0) for r in results.values())
    record["problems"] = sum(len(r["problems"]) for r in results.values())
    record["passed"] = record["problems"] == 0 and all(record[key] == 0 for key in MUST_BE_ZERO)
    record["settings"] = {"quick": args.quick, "seed": args.seed, "kills": args.kills}
    record["seconds"] = round(seconds, 1)
    record["machine"] = {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                         "python": platform.python_version()}  # fmt: skip
    record["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return record


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """Turn SIGTERM into SystemExit so the `finally` blocks stop the processes and drop the databases."""
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios; the last line printed is the JSON record; exit 1 when a guarantee broke."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kengele-crash-") as tmp:
        results, skipped = run_all(args, Path(tmp))
    record = summary(results, skipped, args, time.monotonic() - began)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    return 0 if record["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
