"""Pipeline benchmark: from a signed inbound SMS to the escalation SMS arriving at a fake Twilio API.

    .venv/bin/python bench/pipeline.py --quick        # SQLite and PostgreSQL, 10 and 200 messages/s, 30 + 60 SMS
    .venv/bin/python bench/pipeline.py                # every distinct place (153) at each rate
    .venv/bin/python bench/pipeline.py --profile      # no servers: cProfile and SQL timings of the worker path
    .venv/bin/python bench/pipeline.py --rates 10,200 --seconds 20 --max-messages 10000 --drain 90 \\
        --databases sqlite,postgres --worker auto --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Each (database, rate) run gets a fresh database with the demo region loaded by the importers `kengele demo` uses
(469 places, 38 units, roads, 15 zones, 6 CLAs), Kengele as a real uvicorn subprocess in production mode with its
outbound Twilio pointed at a fake Twilio API (app.notify.fake_twilio, in this process), and a worker: `--worker
auto` runs the embedded worker on SQLite (its default: SQLite has one writer) and, on PostgreSQL, the production
layout `split`: `kengele worker --only inbox --only timers` for the pipeline and `kengele worker --only outbox` for
sending, each with its own interpreter lock instead of sharing the server's (`process`: one `kengele worker` doing
both). Messages are real UCDP events, one per gazetteer place, places at least 16 km apart (so each opens its own
incident), signed as Twilio signs them and posted open-loop at the rate by bench/support/driver.py from another
process, after 3 warm-up messages. An SMS the fake receives for a demo unit's number names the incident (K-…); the
database maps each MessageSid to its report's incident, so latency = when the fake received the incident's first
unit SMS − when the driver wrote the inbound request (one clock: same host). Percentiles count every accepted
message; one with no escalation within the drain time counts as infinitely late (a percentile that lands on one is
null). Breakdown from the stored times: intake (sent → received_at), inbox wait (→ report created), processing (→
processed_at), to Twilio (→ the fake's receipt: batch commit, outbox, API call).
Prints a table, then one JSON object as its last line (also bench/results/pipeline.json and pipeline.png).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import math
import os
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from support.databases import free_port, fresh_database, postgres_problem
from support.deployment import app_settings, demo_unit_numbers, kengele_env, load_demo
from support.events import PlaceMessage, distinct_place_messages
from support.plots import plot_pipeline
from support.processes import background, uvicorn_command, wait_ready
from support.worker_path import (
    app_environment,
    clear_caches,
    enqueue,
    process_inbox,
    top_functions,
    top_statements,
)

from app.notify.fake_twilio import MAGIC_FROM, FakeTwilioServer

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "results" / "pipeline.json"
PROFILE_FILE = BENCH_DIR / "results" / "pipeline_profile.json"
PLOT_FILE = BENCH_DIR / "results" / "pipeline.png"
KENGELE = Path(sys.executable).parent / "kengele"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_P99_MS = 1000.0
WARMUP_MESSAGES = 3
WARMUP_TIMEOUT = 60.0
DRIVER_BUDGET = 120.0
IDLE_CHECK_SECONDS = 1.0
REF = re.compile(r"\bK-\d{4,6}\b")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,200", help="messages/s, comma-separated (default 10,200)")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="sending time per rate, capped by the distinct places (default 20)"
    )
    parser.add_argument("--databases", default="sqlite,postgres", help="sqlite, postgres or both (default both)")
    parser.add_argument("--worker", choices=("auto", "embedded", "process", "split"), default="auto")
    parser.add_argument("--drain", type=float, default=90.0, help="max seconds to wait for escalations (default 90)")
    parser.add_argument("--postgres", default=DEFAULT_PG_ADMIN_URL, help="PostgreSQL admin URL ('' to skip)")
    parser.add_argument("--max-messages", type=int, default=10_000, help="cap per rate (default: every place)")
    parser.add_argument("--quick", action="store_true", help="3 s, at most 60 messages per rate, 30 s drain")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
        help="a Kengele setting for the server and worker, e.g. worker_batch_size=1 (repeatable)",
    )  # fmt: skip
    parser.add_argument("--profile", action="store_true", help="only profile the worker path in-process")
    parser.add_argument("--profile-database", choices=("sqlite", "postgres"), default="postgres")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.drain, args.max_messages = 3.0, 30.0, 60
    args.rates = [float(rate) for rate in args.rates.split(",") if rate]
    args.databases = [name for name in args.databases.split(",") if name]
    if not args.rates or min(args.rates) <= 0 or args.seconds <= 0 or args.drain <= 0:
        parser.error("--rates, --seconds and --drain must be positive")
    if set(args.databases) - {"sqlite", "postgres"}:
        parser.error("--databases takes sqlite and/or postgres")
    if bad := [pair for pair in args.settings if "=" not in pair]:
        parser.error(f"--set takes NAME=VALUE, not {bad[0]!r}")
    args.settings = dict(pair.split("=", 1) for pair in args.settings)
    return args


# The worker processes of each layout, by name, with the roles each takes (none: every role).
WORKER_PROCESSES: dict[str, dict[str, tuple[str, ...]]] = {
    "process": {"worker": ()},
    "split": {"pipeline-worker": ("inbox", "timers"), "outbox-worker": ("outbox",)},
}


def worker_mode(args: argparse.Namespace, database: str) -> str:
    """embedded, process or split: `auto` is the embedded default on SQLite, split workers on PostgreSQL."""
    if args.worker != "auto":
        return args.worker
    return "embedded" if database == "sqlite" else "split"


# ------------------------------------------------------------------------------------------------ run


@contextlib.contextmanager
def deployment(
    database: str, mode: str, args: argparse.Namespace, twilio: FakeTwilioServer, workdir: Path
) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh database with the demo region, a Kengele server (and a `kengele worker` if asked); base URL, env."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with fresh_database(database, args.postgres, workdir) as url:
        env = kengele_env(
            url, workdir / f"data-{port}", token=twilio.fake.auth_token, twilio_account_sid=twilio.fake.account_sid,
            twilio_from_number=MAGIC_FROM, twilio_api_base=twilio.base_url, public_base_url=base_url,
            embedded_worker="true" if mode == "embedded" else "false", **args.settings,
        )  # fmt: skip
        load_demo(app_settings(env))
        server_env = {**clean_env(), **env}
        command = uvicorn_command("app.main:create_app", port, app_dir=PROJECT_ROOT, factory=True)
        with background(command, server_env, workdir, f"server-{port}") as server:
            wait_ready(server, base_url + "/readyz")
            with contextlib.ExitStack() as stack:
                for name, roles in WORKER_PROCESSES.get(mode, {}).items():
                    command = [str(KENGELE), "worker", *(arg for role in roles for arg in ("--only", role))]
                    stack.enter_context(background(command, server_env, workdir, f"{name}-{port}"))
                yield base_url, env


def clean_env() -> dict[str, str]:
    """This process's environment without KENGELE_ settings."""
    return {key: value for key, value in os.environ.items() if not key.startswith("KENGELE_")}


def escalations(twilio: FakeTwilioServer, units: set[str]) -> dict[str, datetime]:
    """Incident reference -> when the fake first received an SMS for a unit naming it."""
    first: dict[str, datetime] = {}
    for request in twilio.fake.created("Messages"):
        match = REF.search(request.get("Body") or "")
        if match and request.get("To") in units and match.group() not in first:
            first[match.group()] = request.at
    return first


def post_signed(base_url: str, twilio: FakeTwilioServer, messages: list[PlaceMessage]) -> None:
    """POST messages one by one, signed, with httpx (the warm-up: not timed)."""
    from app.security.signatures import sign_twilio

    url, token = base_url + "/twilio/sms", twilio.fake.auth_token
    with httpx.Client(timeout=30.0) as client:
        for message in messages:
            form = message.form(twilio.fake.account_sid)
            signature = sign_twilio(auth_token=token, url=url, params=form)
            client.post(url, data=form, headers={"X-Twilio-Signature": signature}).raise_for_status()


def wait_for(condition: Any, timeout: float, pause: float = 0.2) -> bool:
    """Poll `condition()` until true or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(pause)
    return False


def drive(
    base_url: str, twilio: FakeTwilioServer, messages: list[PlaceMessage], rate: float, workdir: Path
) -> dict[str, Any]:
    """Send the messages at `rate` from bench/support/driver.py in its own process; its per-message record."""
    forms_file = workdir / f"messages-{time.monotonic_ns()}.json"
    forms = [message.form(twilio.fake.account_sid) for message in messages]
    forms_file.write_text(json.dumps(forms), encoding="utf-8")
    spec = {
        "url": base_url + "/twilio/sms",
        "token": twilio.fake.auth_token,
        "rate": rate,
        "messages_file": str(forms_file),
    }
    completed = subprocess.run(
        [sys.executable, str(BENCH_DIR / "support" / "driver.py"), json.dumps(spec)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=DRIVER_BUDGET + len(messages) / rate, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"driver failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


class Idle:
    """Whether the deployment has nothing left to do for the sent messages: inbox drained, no unit SMS pending.

    Pending alerts count whatever their next attempt time: comparing it with the database's now() is wrong on
    SQLite (CURRENT_TIMESTAMP has no fraction of a second, so an alert queued this second would not count).
    """

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(database_url)
        self.checked = 0.0

    def __call__(self) -> bool:
        if time.monotonic() - self.checked < IDLE_CHECK_SECONDS:
            return False
        self.checked = time.monotonic()
        from app.intake.models import InboundMessage
        from app.notify.models import Notification

        with self.engine.connect() as connection:
            inbox = connection.scalar(select(func.count()).where(InboundMessage.processed_at.is_(None)))
            outbox = connection.scalar(
                select(func.count()).where(
                    Notification.state.in_(("pending", "sending")),
                    Notification.purpose == "alert",
                    Notification.channel == "sms",
                )
            )
        return inbox == 0 and outbox == 0

    def close(self) -> None:
        self.engine.dispose()


def stored_times(database_url: str, sids: list[str]) -> dict[str, dict[str, Any]]:
    """Per MessageSid: received, report created, processed, and its incident (id, ref)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.incidents.models import Incident, Report
    from app.intake.models import InboundMessage

    query = (
        select(
            InboundMessage.external_id,
            InboundMessage.received_at,
            InboundMessage.processed_at,
            Report.created_at,
            Incident.id,
            Incident.ref,
        )
        .outerjoin(Report, Report.inbound_message_id == InboundMessage.id)
        .outerjoin(Incident, Incident.id == Report.incident_id)
        .where(InboundMessage.external_id.in_(sids))
    )
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            rows = session.execute(query).all()
    finally:
        engine.dispose()
    keys = ("received_at", "processed_at", "created_at", "incident_id", "ref")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


def plan(rates: list[float], places: int, args: argparse.Namespace) -> list[list[tuple[float, int]]]:
    """Rates grouped into deployments: rates share one while their messages fit the distinct places (one each)."""
    groups: list[list[tuple[float, int]]] = [[]]
    used = 0
    for rate in rates:
        count = min(places, args.max_messages, max(1, round(rate * args.seconds)))
        if groups[-1] and used + count > places:
            groups.append([])
            used = 0
        groups[-1].append((rate, count))
        used += count
    return groups


def run_group(
    database: str, group: list[tuple[float, int]], messages: list[PlaceMessage], args: argparse.Namespace,
    twilio: FakeTwilioServer, workdir: Path,
) -> list[dict[str, Any]]:  # fmt: skip
    """One fresh deployment, warmed up; per rate, its own messages sent at that rate and drained; the outcomes."""
    mode, units = worker_mode(args, database), demo_unit_numbers()
    warm, pool = messages[:WARMUP_MESSAGES], messages[WARMUP_MESSAGES:]
    results = []
    with deployment(database, mode, args, twilio, workdir) as (base_url, env):
        twilio.fake.clear()
        post_signed(base_url, twilio, warm)
        if not wait_for(lambda: len(escalations(twilio, units)) >= len(warm), WARMUP_TIMEOUT):
            raise RuntimeError(f"warm-up messages did not escalate within {WARMUP_TIMEOUT:.0f} s")
        for rate, count in group:
            timed, pool = pool[:count], pool[count:]
            print(f"- {database} at {rate:g}/s ({mode} worker): {count} messages", flush=True)
            twilio.fake.clear()
            driven = drive(base_url, twilio, timed, rate, workdir)
            accepted = sum(is_ok(row["status"]) for row in driven["sent"])
            idle = Idle(env["KENGELE_DATABASE_URL"])
            started = time.monotonic()
            try:
                wait_for(lambda accepted=accepted, idle=idle: len(escalations(twilio, units)) >= accepted or idle(),
                         args.drain)  # fmt: skip
            finally:
                idle.close()
            drained_s = time.monotonic() - started
            stored = stored_times(env["KENGELE_DATABASE_URL"], [m.sid for m in timed])
            result = outcome(database, rate, mode, driven, stored, escalations(twilio, units), drained_s)
            results.append(result | api_traffic(twilio, units, result["escalated"]))
    return results


def api_traffic(twilio: FakeTwilioServer, units: set[str], escalated: int) -> dict[str, Any]:
    """What the outbox sent to the fake Twilio API during the run: how much, to whom, how fast."""
    created = [r for r in twilio.fake.requests if r.method == "POST" and r.status == 201]
    sms = [r for r in created if r.resource == "Messages"]
    span = (max(r.at for r in created) - min(r.at for r in created)).total_seconds() if len(created) > 1 else 0.0
    return {
        "twilio_requests": len(created),
        "twilio_sms_to_units": sum(r.get("To") in units for r in sms),
        "twilio_sms_to_others": sum(r.get("To") not in units for r in sms),
        "twilio_calls": sum(r.resource == "Calls" for r in created),
        "twilio_requests_per_incident": round(len(created) / escalated, 2) if escalated else None,
        "twilio_requests_per_s": round((len(created) - 1) / span, 1) if span else None,
    }


def is_ok(status: str) -> bool:
    """Only 2xx answers count as accepted."""
    return status.isdigit() and 200 <= int(status) < 300


def ms(later: datetime | None, earlier: datetime | float | None) -> float | None:
    """Milliseconds between two times (a float is Unix seconds), None when either is missing."""
    if later is None or earlier is None:
        return None
    start = earlier if isinstance(earlier, datetime) else datetime.fromtimestamp(earlier, UTC)
    return (later - start).total_seconds() * 1000


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None when empty or when it lands on a message that never escalated (inf)."""
    if not values:
        return None
    ordered = sorted(values)
    value = ordered[min(len(ordered), max(1, math.ceil(fraction * len(ordered)))) - 1]
    return None if math.isinf(value) else round(value, 1)


def outcome(
    database: str, rate: float, mode: str, driven: dict[str, Any], stored: dict[str, dict[str, Any]],
    first_sms: dict[str, datetime], drained_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Latencies, shares and the time breakdown of one run."""
    sent = [row for row in driven["sent"] if is_ok(row["status"])]
    owner: dict[int, str] = {}
    for row in sorted(sent, key=lambda r: r["sent_at"]):
        incident = stored.get(row["sid"], {}).get("incident_id")
        if incident is not None:
            owner.setdefault(incident, row["sid"])
    joined = [row for row in sent if (i := stored.get(row["sid"], {}).get("incident_id")) and owner[i] != row["sid"]]
    counted = [row for row in sent if row not in joined]
    latency, parts = [], {"intake": [], "inbox_wait": [], "processing": [], "to_twilio": []}
    processed = []
    for row in counted:
        facts = stored.get(row["sid"], {})
        at = first_sms.get(facts.get("ref") or "")
        latency.append(ms(at, row["sent_at"]) if at else math.inf)
        if facts.get("processed_at"):
            processed.append(facts["processed_at"])
        if at:
            parts["intake"].append(ms(facts["received_at"], row["sent_at"]))
            parts["inbox_wait"].append(ms(facts["created_at"], facts["received_at"]))
            parts["processing"].append(ms(facts["processed_at"], facts["created_at"]))
            parts["to_twilio"].append(ms(at, facts["processed_at"]))
    escalated = sum(not math.isinf(value) for value in latency)
    span = (max(processed) - min(processed)).total_seconds() if len(processed) > 1 else 0.0
    return {
        "database": database, "rate_per_s": rate, "worker": mode, "sent": len(driven["sent"]), "accepted": len(sent),
        "send_seconds": round(driven["elapsed_s"], 2), "escalated": escalated,
        "escalated_share": round(escalated / len(sent), 3) if sent else None,
        "joined_another_incident": len(joined), "processed": len(processed),
        "p50_ms": percentile(latency, 0.50), "p95_ms": percentile(latency, 0.95), "p99_ms": percentile(latency, 0.99),
        "max_escalated_ms": round(max((v for v in latency if not math.isinf(v)), default=0.0), 1) or None,
        "breakdown_p50_ms": {name: percentile(values, 0.5) for name, values in parts.items()},
        "breakdown_p99_ms": {name: percentile(values, 0.99) for name, values in parts.items()},
        "processed_per_s": round((len(processed) - 1) / span, 1) if span else None,
        "intake_answer_p50_ms": percentile([row["answer_ms"] for row in sent], 0.5),
        "drain_seconds": round(drained_s, 1),
        "statuses": dict(Counter(row["status"] for row in driven["sent"])),
    }  # fmt: skip


# -------------------------------------------------------------------------------------------- profile


def profile_run(args: argparse.Namespace, messages: list[PlaceMessage], workdir: Path) -> dict[str, Any]:
    """cProfile of the worker path in-process on the same data (demo region, the same messages), with SQL timings."""
    database = args.profile_database
    if database == "postgres" and (problem := postgres_problem(args.postgres)):
        sys.exit(f"error: PostgreSQL not reachable ({problem})")
    statements: dict[str, list[float]] = {}
    with fresh_database(database, args.postgres, workdir) as url:
        env = kengele_env(url, workdir / "profile-data", token=secrets.token_hex(16))
        settings = app_settings(env)
        load_demo(settings)
        with app_environment(env):
            enqueue(settings, [message.form() for message in messages])
            clear_caches()
            process_inbox(settings, limit=5)  # warm: gazetteer parser, road graph, statement caches
            plain = process_inbox(settings, statements=statements)
            profile = cProfile.Profile()
            profiled = process_inbox(settings, profile=profile)
    sql_ms = 1000 * sum(seconds for _calls, seconds in statements.values()) / plain.reports
    return {
        "database": database,
        "reports": plain.reports,
        "ms_per_report": round(plain.ms_per_report() or 0, 2),
        "ms_per_report_p50": round(statistics.median(plain.per_report_ms), 2),
        "steps_ms_per_report": {name: round(value, 2) for name, value in plain.steps_per_report().items()},
        "sql_statements_per_report": round(sum(calls for calls, _seconds in statements.values()) / plain.reports, 1),
        "sql_ms_per_report": round(sql_ms, 2),
        "sql_share": round(sql_ms / (plain.ms_per_report() or 1), 3),
        "top_app_functions_cumulative": top_functions(profile, profiled.reports, 25, only="/app/"),
        "top_functions_cumulative": top_functions(profile, profiled.reports, 10),
        "top_sql_statements": top_statements(statements, plain.reports, 10),
        "profiled_ms_per_report": round(profiled.ms_per_report() or 0, 2),
        "note": "cProfile inflates times (profiled_ms_per_report against ms_per_report): compare shares",
    }


def print_profile(record: dict[str, Any]) -> None:
    """The profile as tables: steps, application functions, SQL statements."""
    head = f"{record['reports']} reports on {record['database']}: {record['ms_per_report']} ms per report"
    print(f"\n{head} ({record['sql_statements_per_report']} SQL statements, {record['sql_share']:.0%} of it in SQL)")
    for name, value in record["steps_ms_per_report"].items():
        print(f"{value:>9.2f} ms/report  step {name}")
    print("application functions, cumulative (under cProfile):")
    for row in record["top_app_functions_cumulative"][:15]:
        print(
            f"{row['cumulative_ms_per_report']:>9.2f} ms/report  {row['calls_per_report']:>6} calls  {row['function']}"
        )
    print("SQL statements:")
    for row in record["top_sql_statements"]:
        print(f"{row['ms_per_report']:>9.2f} ms/report  {row['calls_per_report']:>6} calls  {row['sql'][:90]}")
    print()


# ------------------------------------------------------------------------------------------- report


def summary(runs: list[dict[str, Any]], args: argparse.Namespace, skipped: str | None) -> dict[str, Any]:
    """The flat JSON record: per database and rate p50/p95/p99 and the escalated share, then details."""
    record: dict[str, Any] = {}
    for run in runs:
        key = f"{run['database']}_{{}}_at_{run['rate_per_s']:g}_per_s"
        for name in ("p50_ms", "p95_ms", "p99_ms", "escalated_share"):
            record[key.format(name)] = run[name]
    top = max(args.rates)
    record["target_p99_ms"] = TARGET_P99_MS
    for run in runs:
        if run["rate_per_s"] == top:
            p99 = run["p99_ms"]
            record[f"{run['database']}_meets_target_at_{top:g}_per_s"] = p99 is not None and p99 < TARGET_P99_MS
    record["runs"] = runs
    record["postgres_skipped"] = skipped
    record["settings"] = {
        "rates_per_s": args.rates, "seconds": args.seconds, "drain_s": args.drain, "worker": args.worker,
        "databases": args.databases, "quick": args.quick, "warmup_messages": WARMUP_MESSAGES,
        **app_worker_settings(), "overrides": args.settings,
    }  # fmt: skip
    record["machine"] = machine()
    record["load_average_at_start"] = args.load_at_start
    record["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return record


def app_worker_settings() -> dict[str, float | int]:
    """The application's default worker settings (what `--set` changed is recorded beside them as overrides)."""
    from app.core.config import Settings

    defaults = Settings.model_fields
    names = ("worker_poll_seconds", "inbox_poll_seconds", "worker_batch_size", "outbox_senders",
             "embedded_worker_yield_seconds", "embedded_worker_busy_seconds")  # fmt: skip
    return {name: defaults[name].default for name in names}


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    return {
        "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }  # fmt: skip


def print_table(runs: list[dict[str, Any]]) -> None:
    """A human-readable table of the runs."""
    row = "{:<9} {:>6} {:>9} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}"
    print()
    print(row.format("database", "rate/s", "worker", "sent", "escalated", "p50 ms", "p95 ms", "p99 ms", "done/s",
                     "intake", "inbox", "process", "to API", "API req/s"))  # fmt: skip
    for run in runs:
        parts = run["breakdown_p50_ms"]
        cells = [run["p50_ms"], run["p95_ms"], run["p99_ms"], run["processed_per_s"]]
        cells += [parts[name] for name in ("intake", "inbox_wait", "processing", "to_twilio")]
        cells.append(run.get("twilio_requests_per_s"))
        print(row.format(run["database"], f"{run['rate_per_s']:g}", run["worker"], run["accepted"],
                         f"{run['escalated_share']:.0%}" if run["escalated_share"] is not None else "-",
                         *("-" if value is None else f"{value:.0f}" for value in cells)))  # fmt: skip
    print("(latency '-': that percentile did not escalate within the drain time; intake … to API: p50 ms of each part;")
    print(" done/s: reports the worker processed per second; API req/s: SMS and calls the outbox sent per second)")
    print()


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks stop the servers and drop the databases."""
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or the profile); the last line printed is the JSON record."""
    args = parse_args(argv)
    args.load_at_start = round(os.getloadavg()[0], 2)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    messages = distinct_place_messages()
    with tempfile.TemporaryDirectory(prefix="kengele-pipeline-") as tmp:
        if args.profile:
            record = profile_run(args, messages, Path(tmp)) | {"machine": machine()}
            record["date"] = datetime.now(UTC).isoformat(timespec="seconds")
            print_profile(record)
            PROFILE_FILE.write_text(json.dumps(record, indent=2) + "\n")
            print(json.dumps(record))
            return 0
        skipped = None
        if "postgres" in args.databases and (skipped := postgres_problem(args.postgres) if args.postgres else "no URL"):
            print(f"- postgres: skipped ({skipped})", flush=True)
            args.databases = [name for name in args.databases if name != "postgres"]
        print(f"- {len(messages)} messages at distinct places ({WARMUP_MESSAGES} for warm-up)", flush=True)
        runs = []
        with FakeTwilioServer(auth_token=secrets.token_hex(16)) as twilio:
            for database in args.databases:
                for group in plan(args.rates, len(messages) - WARMUP_MESSAGES, args):
                    runs += run_group(database, group, messages, args, twilio, Path(tmp))
    print_table(runs)
    record = summary(runs, args, skipped)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(record, indent=2) + "\n")
    plot_pipeline(record, PLOT_FILE)
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
