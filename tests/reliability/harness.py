"""Real `kengele serve` and `kengele worker` processes under a signed SMS load, killed or cut off, then audited.

Shared by tests/reliability and bench/crash.py: the tests run the scenarios small, the bench runs them big.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import html
import itertools
import json
import queue
import random
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select
from starlette.requests import ClientDisconnect

from app.core.config import Settings
from app.core.db import make_engine, make_sessionmaker, transaction
from app.escalation.models import Escalation
from app.incidents.models import Report
from app.intake.models import InboundMessage
from app.intake.simulate import twilio_sms_form
from app.notify.fake_twilio import MAGIC_FROM, FakeTwilio, FakeTwilioServer
from app.notify.models import Notification
from app.reporters.models import Reporter
from app.security.crypto import Vault
from app.security.keys import load_keys
from app.security.signatures import sign_twilio
from app.units.models import UnitContact
from tests.conftest import DEMO_DIR, SECRET_KEY, TWILIO_ACCOUNT, TWILIO_TOKEN
from tests.live_server import KENGELE, free_port, kengele_env

# Demo towns far enough apart that two events never share an incident; one event per town.
EVENT_PLACES = (
    "Bria", "Bambari", "Kaga Bandoro", "Bossangoa", "Zemio", "Bangassou", "Bouar", "Obo", "Paoua", "Birao",
    "Alindao", "Bozoum",
)  # fmt: skip
# Wordings the parser reads as the same category (attack on civilians) at the named town: one incident per event.
TEMPLATES = (
    "Hommes armés attaquent {place}, maisons brûlées",
    "Attaque à {place} ce matin, des hommes armés tirent",
)
IN_DOUBT = ("sending", "unknown")  # claimed by a worker that died (or lost its database) before recording the answer


def process_env(database_url: str, data_dir: Path, twilio_api_base: str, public_url: str) -> dict[str, str]:
    """A production `kengele` environment: explicit secrets, no embedded worker, outbound Twilio at the fake."""
    return kengele_env(
        mode="production",
        database_url=database_url,
        data_dir=str(data_dir),
        secret_key=SECRET_KEY,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_account_sid=TWILIO_ACCOUNT,
        twilio_from_number=MAGIC_FROM,
        twilio_api_base=twilio_api_base,
        public_base_url=public_url,
        embedded_worker="false",
        worker_poll_seconds="0.2",
        spool_replay_seconds="0.5",
        # Short backoffs: a row that failed while its process was dying is retried within the test's drain.
        retry_schedule_seconds="[1, 2, 5]",
        notify_retry_seconds="[1, 2, 5]",
        log_level="INFO",
    )


def settings_for(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key=SECRET_KEY, twilio_auth_token=TWILIO_TOKEN)


def load_demo(database_url: str) -> None:
    """Load the demo region and deployment exactly as `kengele demo` does (places, units, roads, zones, CLAs)."""
    from app.geo.importers import import_places_csv
    from app.protection.service import import_protection
    from app.routing.service import import_roads
    from app.units.service import import_units_csv
    from app.verification.cli import import_clas_csv

    settings = settings_for(database_url)
    vault = Vault(load_keys(settings))
    engine = make_engine(settings)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            import_places_csv(session=session, path=DEMO_DIR / "car_places.csv", country_code="CF")
            import_units_csv(session=session, vault=vault, path=DEMO_DIR / "car_units_example.csv",
                             default_region=settings.default_region)  # fmt: skip
            import_roads(session=session, raw=(DEMO_DIR / "car_roads.geojson").read_bytes())
            import_protection(session=session, raw=(DEMO_DIR / "car_zones.geojson").read_bytes())
            import_clas_csv(session=session, vault=vault, path=DEMO_DIR / "car_clas_example.csv",
                            default_region=settings.default_region)  # fmt: skip
    finally:
        engine.dispose()


# --- processes ---------------------------------------------------------------------------------------------


class Proc:
    """One `kengele` process that can be SIGKILLed and started again with the same port, data dir and log."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], workdir: Path, base_url: str | None = None):
        self.name, self.args, self.env, self.workdir, self.base_url = name, args, env, workdir, base_url
        self.log = workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self._log_offset = 0
        self._lock = threading.Lock()  # the chaos thread restarts it while the test may be stopping everything
        self._closed = False

    def start(self) -> None:
        """Start the process (again); refused once stop() was called, so that no restart outlives the test."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} was stopped for good")
            self._log_offset = self.log.stat().st_size if self.log.exists() else 0
            with self.log.open("ab") as out:
                self.process = subprocess.Popen(
                    [KENGELE, *self.args], env=self.env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C goes to pytest alone, whose teardown stops us in order
                )  # fmt: skip
            self.starts += 1

    def ready(self) -> bool:
        if self.base_url is not None:
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200
            return False
        with self.log.open("rb") as handle:
            handle.seek(self._log_offset)
            return b"worker running" in handle.read()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no handler runs, no transaction commits, nothing is flushed."""
        with self._lock:
            assert self.process is not None
            self.process.kill()
            self.process.wait()
            self.kills += 1

    def stop(self) -> None:
        """Stop politely (SIGTERM), then SIGKILL after 10 s; it is never started again."""
        with self._lock:
            self._closed = True
            if self.process is None or self.process.poll() is not None:
                return
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class Deployment:
    """`apis` × `kengele serve` (each its own port and spool) and `workers` × `kengele worker` on one database."""

    def __init__(self, database_url: str, workdir: Path, twilio_api_base: str, *, apis: int = 1, workers: int = 1):
        self.servers: list[Proc] = []
        self.workers: list[Proc] = []
        self.spool_dirs: list[Path] = []
        for n in range(apis):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            data = workdir / f"api{n}"
            data.mkdir(parents=True)
            env = process_env(database_url, data, twilio_api_base, base)  # signatures are checked against it
            self.servers.append(Proc(f"api{n}", ["serve", "--host", "127.0.0.1", "--port", str(port)], env, data, base))
            self.spool_dirs.append(data / "spool")
        for n in range(workers):
            data = workdir / f"worker{n}"
            data.mkdir(parents=True)
            env = process_env(database_url, data, twilio_api_base, self.servers[0].base_url or "")
            self.workers.append(Proc(f"worker{n}", ["worker"], env, data))

    @property
    def api_urls(self) -> list[str]:
        return [s.base_url or "" for s in self.servers]

    @property
    def processes(self) -> list[Proc]:
        return [*self.servers, *self.workers]

    def __enter__(self) -> Deployment:
        try:
            for proc in self.processes:
                proc.start()
            for proc in self.processes:
                proc.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        for proc in self.processes:
            proc.stop()

    def spooled(self) -> int:
        """Messages waiting in the API processes' spools."""
        return sum(len(list(d.glob("*.json"))) for d in self.spool_dirs if d.exists())


class _Slow:
    """ASGI wrapper: every POST waits `delay` seconds before it is read (a slow provider)."""

    def __init__(self, app: Any, delay: float) -> None:
        self.app, self.delay = app, delay

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            await asyncio.sleep(self.delay)
        with contextlib.suppress(ClientDisconnect):  # the worker died while this request was on its way
            await self.app(scope, receive, send)


@contextlib.contextmanager
def slow_fake_twilio(delay: float) -> Iterator[FakeTwilioServer]:
    """A fake Twilio of its own that takes `delay` seconds per create, so that a kill lands mid-send."""
    fake = FakeTwilio(account_sid=TWILIO_ACCOUNT, auth_token=TWILIO_TOKEN)
    fake.app = _Slow(fake.app, delay)  # type: ignore[assignment]
    with FakeTwilioServer(fake) as server:
        yield server


# --- load --------------------------------------------------------------------------------------------------


@dataclass
class Message:
    """One inbound SMS of the load: its MessageSid, sender and words, the event it tells of, and every answer."""

    sid: str
    sender: str
    body: str
    event: int
    statuses: list[int | str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return 200 in self.statuses


def make_messages(count: int, events: int, rng: random.Random) -> list[Message]:
    """`count` messages from distinct senders, spread round-robin over `events` events at distinct demo towns."""
    if not 1 <= events <= len(EVENT_PLACES):
        raise ValueError(f"between 1 and {len(EVENT_PLACES)} events")
    return [
        Message(f"SM{rng.getrandbits(128):032x}", f"+2367230{i:04d}",
                rng.choice(TEMPLATES).format(place=EVENT_PLACES[i % events]), i % events)
        for i in range(count)
    ]  # fmt: skip


class Load:
    """Post each message at a fixed rate, round-robin over the API URLs, retrying one without a 200 (same SID)."""

    def __init__(self, messages: Sequence[Message], urls: Sequence[str], rate: float, *, senders: int = 2,
                 attempts: int = 10, backoff: float = 1.0) -> None:  # fmt: skip
        self.messages, self.urls, self.rate = list(messages), list(urls), rate
        # Retries after 1, 2, 4, 4… s, as a partner would: they also check that a message stored just before a kill,
        # its answer lost, is not stored twice.
        self.attempts, self.backoff = attempts, backoff
        self.posted = 0
        self._jobs: queue.Queue[tuple[int, int] | None] = queue.Queue()
        self._retries: list[tuple[float, int, int, int]] = []  # (due, tiebreak, message index, attempt)
        self._lock = threading.Lock()
        self._busy = 0
        self._tiebreak = itertools.count()
        self._threads = [threading.Thread(target=self._pace, name="load-pacer", daemon=True)]
        self._threads += [threading.Thread(target=self._send, name=f"load-{n}", daemon=True) for n in range(senders)]
        self._senders = senders
        self._stopping = threading.Event()

    def start(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _due_retries(self) -> None:
        now = time.monotonic()
        with self._lock:
            while self._retries and self._retries[0][0] <= now:
                _, _, index, attempt = heapq.heappop(self._retries)
                self._busy += 1
                self._jobs.put((index, attempt))

    def stop(self) -> None:
        """Send nothing more (the messages in flight finish)."""
        self._stopping.set()

    def _pace(self) -> None:
        for index in range(len(self.messages)):
            at = self.started + index / self.rate
            while (wait := at - time.monotonic()) > 0 and not self._stopping.is_set():
                self._due_retries()
                time.sleep(min(wait, 0.05))
            if self._stopping.is_set():
                break
            with self._lock:
                self._busy += 1
            self._jobs.put((index, 0))
            self._due_retries()
        while not self._stopping.is_set():  # the last retries
            self._due_retries()
            with self._lock:
                if not self._retries and not self._busy:
                    break
            time.sleep(0.05)
        for _ in range(self._senders):
            self._jobs.put(None)

    def _send(self) -> None:
        with httpx.Client(timeout=15) as client:
            while (job := self._jobs.get()) is not None:
                index, attempt = job
                message = self.messages[index]
                url = f"{self.urls[(index + attempt) % len(self.urls)]}/twilio/sms"
                form = twilio_sms_form(message_sid=message.sid, sender=message.sender, body=message.body,
                                       account_sid=TWILIO_ACCOUNT)  # fmt: skip
                headers = {"X-Twilio-Signature": sign_twilio(auth_token=TWILIO_TOKEN, url=url, params=form)}
                try:
                    status: int | str = client.post(url, data=form, headers=headers).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__  # the server died under the request, or is not up yet
                with self._lock:
                    message.statuses.append(status)
                    self.posted += 1
                    self._busy -= 1
                    if status != 200 and attempt + 1 < self.attempts:
                        due = time.monotonic() + self.backoff * 2 ** min(attempt, 2)
                        heapq.heappush(self._retries, (due, next(self._tiebreak), index, attempt + 1))


# --- chaos -------------------------------------------------------------------------------------------------


def kill_schedule(rng: random.Random, procs: Sequence[Proc], kills: int, start: float, end: float
                  ) -> list[tuple[float, Proc]]:  # fmt: skip
    """Seeded moments to SIGKILL each process: its window cut into `kills` slots, one random moment in each."""
    # Slots, not `kills` free draws: a restarted process gets time to come up and take work before it dies again.
    plan: list[tuple[float, Proc]] = []
    slot = (end - start) / max(kills, 1)
    for proc in procs:
        plan += [(start + k * slot + rng.uniform(0.15, 0.85) * slot, proc) for k in range(kills)]
    return sorted(plan, key=lambda item: item[0])


class Chaos(threading.Thread):
    """Carry out a kill schedule: at each moment SIGKILL the process and start it again at once."""

    def __init__(self, plan: list[tuple[float, Proc]], started: float) -> None:
        super().__init__(name="chaos", daemon=True)
        self.plan, self.started = plan, started
        self.done: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for at, proc in self.plan:
                time.sleep(max(0.0, self.started + at - time.monotonic()))
                proc.wait_ready()  # a kill while it is still importing would prove little
                pid = proc.process.pid if proc.process else None
                proc.kill()
                self.done.append({"at_s": round(time.monotonic() - self.started, 2), "process": proc.name, "pid": pid})
                proc.start()
            for _, proc in self.plan:
                proc.wait_ready()
        except BaseException as exc:  # reported by the scenario; the processes are stopped by the deployment
            self.error = exc


# --- waiting and auditing ----------------------------------------------------------------------------------


class Database:
    """The scenario's view of the database: drain checks and the audit's queries."""

    def __init__(self, database_url: str) -> None:
        settings = settings_for(database_url)
        # Not make_engine: on SQLite its BEGIN IMMEDIATE would take the write lock for every poll and slow down
        # the processes under test; plain (deferred) reads of a WAL database never block a writer.
        sqlite = settings.is_sqlite
        self.engine = create_engine(database_url, connect_args={"timeout": 30} if sqlite else {"connect_timeout": 5},
                                    pool_pre_ping=not sqlite)  # fmt: skip
        self.factory = make_sessionmaker(self.engine)
        self.vault = Vault(load_keys(settings))

    def close(self) -> None:
        self.engine.dispose()

    def backlog(self) -> dict[str, int]:
        """What the workers still have to do: unprocessed inbox rows, due outbox rows, rows mid-send."""
        with self.factory() as session:
            unprocessed = session.scalar(select(func.count()).where(InboundMessage.processed_at.is_(None)))
            query = select(Notification.state, func.count()).group_by(Notification.state)
            by_state: dict[str, int] = dict(session.execute(query).all())  # type: ignore[arg-type]
        return {"unprocessed": unprocessed or 0, "pending": by_state.get("pending", 0),
                "sending": by_state.get("sending", 0)}  # fmt: skip

    def stored_sids(self) -> set[str]:
        with self.factory() as session:
            return set(session.scalars(select(InboundMessage.external_id)))


def wait_drained(db: Database, deployment: Deployment, messages: Sequence[Message], fake: FakeTwilio,
                 timeout: float) -> bool:  # fmt: skip
    """Wait until spools are empty, every answered message is stored and processed, and the outbox is idle."""
    # Idle: nothing due and Twilio hears nothing new for 2 s; rows a dead worker left "sending" stay so (in doubt).
    answered = {m.sid for m in messages if m.answered}
    deadline = time.monotonic() + timeout
    stable_since, last = time.monotonic(), None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the database may still be coming back
            state = (db.backlog(), len(fake.requests))
            idle = (deployment.spooled() == 0 and state[0]["unprocessed"] == 0 and state[0]["pending"] == 0
                    and answered <= db.stored_sids())  # fmt: skip
            if not idle or state != last:
                stable_since, last = time.monotonic(), state
            elif time.monotonic() - stable_since >= 2.0:  # "sending" rows of a live worker resolve in a moment
                return True
        time.sleep(0.3)
    return False


@dataclass
class Audit:
    """The counts of one run and every broken guarantee found, in words."""

    counts: dict[str, Any]
    problems: list[str]


def _address(session: Any, vault: Vault, row: Notification) -> str | None:
    if row.contact_id is not None:
        contact = session.get(UnitContact, row.contact_id)
        return vault.decrypt(contact.address_encrypted) if contact else None
    reporter = session.get(Reporter, row.reporter_id) if row.reporter_id is not None else None
    return vault.decrypt(reporter.phone_encrypted) if reporter and reporter.phone_encrypted else None


def _same_content(row: Notification, to: str | None, request: Any) -> bool:
    if row.channel == "sms":
        return request.resource == "Messages" and request.get("To") == to and request.get("Body") == row.text
    twiml = html.unescape(request.get("Twiml") or "")
    return request.resource == "Calls" and request.get("To") == to and row.text in twiml


SENDERS = Settings.model_fields["outbox_senders"].default  # the workers run with the defaults


def audit(db: Database, messages: Sequence[Message], fake: FakeTwilio, *, worker_kills: int = 0) -> Audit:
    """Check the guarantees against the database and what the fake Twilio received; count everything."""
    problems: list[str] = []
    by_sid = {m.sid: m for m in messages}
    answered = {m.sid for m in messages if m.answered}
    with db.factory() as session:
        inbound = session.execute(
            select(InboundMessage.id, InboundMessage.external_id, InboundMessage.processed_at, InboundMessage.spooled)
        ).all()
        reports = session.execute(select(Report.id, Report.inbound_message_id, Report.incident_id)).all()
        escalated = set(session.scalars(select(Escalation.incident_id)))
        notifications = list(session.scalars(select(Notification)))
        addresses = {row.id: _address(session, db.vault, row) for row in notifications}

    # Intake: every 200 is a row, once.
    sids = Counter(row.external_id for row in inbound)
    found = answered & set(sids)
    lost = sorted(answered - found)
    duplicate_rows = sum(n - 1 for n in sids.values() if n > 1)
    duplicate_rows += sum(n - 1 for n in Counter(r.inbound_message_id for r in reports).values() if n > 1)
    unprocessed = sum(1 for row in inbound if row.processed_at is None)
    if lost:
        problems.append(f"{len(lost)} answered messages missing from inbound_message, e.g. {lost[:3]}")
    if duplicate_rows:
        problems.append(f"{duplicate_rows} duplicate inbox or report rows")
    if unprocessed:
        problems.append(f"{unprocessed} inbox rows never processed")
    strangers = [row.external_id for row in inbound if row.external_id not in by_sid]
    if strangers:
        problems.append(f"{len(strangers)} inbox rows the load never sent")

    # Incidents: one per event, none shared by two events; each escalated.
    sid_of = {row.id: row.external_id for row in inbound}
    incidents_of_event: dict[int, set[int]] = defaultdict(set)
    events_of_incident: dict[int, set[int]] = defaultdict(set)
    for report in reports:
        message = by_sid.get(sid_of.get(report.inbound_message_id, ""))
        if message is not None and report.incident_id is not None:
            incidents_of_event[message.event].add(report.incident_id)
            events_of_incident[report.incident_id].add(message.event)
    events = {by_sid[sid].event for sid in set(sids) & set(by_sid)}
    incidents = set(events_of_incident)
    for event in sorted(events):
        if len(incidents_of_event[event]) != 1:
            problems.append(f"event {event} ({EVENT_PLACES[event]}) has {len(incidents_of_event[event])} incidents")
    merged = {i: e for i, e in events_of_incident.items() if len(e) > 1}
    if merged:
        problems.append(f"incidents holding several events: {merged}")
    not_escalated = sorted(incidents - escalated)
    if not_escalated:
        problems.append(f"incidents {not_escalated} never escalated")

    # Outbox: each row reached Twilio at most once; every escalating incident's alert reached Twilio.
    created = [r for r in fake.requests if r.method == "POST" and r.status == 201]
    by_provider = {row.provider_id: row for row in notifications if row.provider_id}
    in_doubt = [row for row in notifications if row.state in IN_DOUBT]
    sends_of: Counter[int] = Counter()
    strays = []
    for request in created:
        row = by_provider.get(request.sid)
        if row is None:  # handed to Twilio by a worker that died before recording it
            row = next((r for r in in_doubt if _same_content(r, addresses[r.id], request)), None)
        if row is None:
            strays.append(request)
        else:
            sends_of[row.id] += 1
    content = Counter((r.resource, r.get("To"), r.get("Body") or r.get("Twiml")) for r in created)
    duplicates = max(sum(n - 1 for n in sends_of.values() if n > 1), sum(n - 1 for n in content.values() if n > 1))
    if duplicates:
        twice = [row.key for row in notifications if sends_of[row.id] > 1]
        problems.append(f"{duplicates} notifications sent twice: {twice[:5]}")
    if strays:
        problems.append(f"{len(strays)} messages at Twilio that match no notification row")
    never_sent = [row for row in in_doubt if not sends_of[row.id]]
    # A worker killed mid-send leaves the one message it was sending in doubt (at most once: never re-sent); a
    # batch of untried rows left "sending" by one kill would be alerts that nobody will ever send.
    # Each of a worker's outbox senders has at most one message in flight when the worker dies.
    if len(never_sent) > worker_kills * SENDERS:
        problems.append(f"{len(never_sent)} rows left 'sending' and never sent after {worker_kills} worker kills: "
                        f"{[row.key for row in never_sent][:6]}")  # fmt: skip
    alerted = {row.incident_id for row in notifications if row.purpose == "alert" and sends_of[row.id]}
    doubtful = {row.incident_id for row in never_sent if row.purpose == "alert"} - alerted
    not_alerted = sorted(incidents & escalated - alerted - doubtful)
    if not_alerted:
        problems.append(f"escalated incidents {not_alerted} whose alerts never reached Twilio")
    failed = [row.key for row in notifications if row.state == "failed"]
    if failed:
        problems.append(f"{len(failed)} notifications failed: {failed[:5]}")

    statuses = Counter(str(s) for m in messages for s in m.statuses)
    counts = {
        "messages_sent": len(messages),
        "requests": sum(statuses.values()),
        "answered_200": len(answered),
        "non_200_answers": sum(n for s, n in statuses.items() if s != "200"),
        "rows_found": len(found),
        "lost": len(lost),
        "stored_without_200": len(set(sids) - answered),
        "duplicate_rows": duplicate_rows,
        "spooled_rows": sum(1 for row in inbound if row.spooled),
        "events": len(events),
        "incidents": len(incidents),
        "escalated": len(incidents & escalated),
        "alerted_incidents": len(incidents & alerted),
        # Escalated incidents whose every alert was in flight when a worker died: in doubt, and never sent twice;
        # their escalation's deadline still moves them to the next level.
        "incidents_in_doubt": len(incidents & escalated & doubtful),
        "notifications": len(notifications),
        "notifications_sent": len(created),
        "in_doubt": len(in_doubt),
        "in_doubt_never_sent": len(never_sent),
        "duplicates": duplicates,
        "statuses": dict(statuses),
    }
    return Audit(counts, problems)


# --- scenarios ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A scenario's size: the load, the kills, the outage."""

    messages: int = 150
    rate: float = 6.0
    events: int = 6
    server_kills: int = 0
    worker_kills: int = 0
    seed: int = 9
    apis: int = 1
    workers: int = 1
    outage_at: float | None = None  # seconds into the load
    outage_seconds: float = 30.0
    drain_timeout: float = 120.0


# The tests' sizes (bench/crash.py --quick runs these too).
# Crash: ~30 s of load, three SIGKILLs of each process at seeded random moments; ~1 min in all.
CRASH = Plan(messages=150, rate=5.0, events=6, server_kills=3, worker_kills=3)
# Outage: 42 s of load; the database goes down 6 s in and comes back 30 s later; ~1.5 min in all.
OUTAGE = Plan(messages=252, rate=6.0, events=6, outage_at=6.0, outage_seconds=30.0)
# Two API processes (the load alternates between their ports) and two workers; ~25 s of load, under a minute.
MULTIPROCESS = Plan(messages=200, rate=8.0, events=8, apis=2, workers=2)


def run(plan: Plan, database_url: str, workdir: Path, fake: Any, *, outage: Any = None,
        log: Callable[[str], None] = lambda _line: None) -> Audit:  # fmt: skip
    """Run one scenario on a migrated demo database (`fake`: a FakeTwilioServer; `outage`: has stop() and start())."""
    began = time.monotonic()
    rng = random.Random(plan.seed)
    messages = make_messages(plan.messages, plan.events, rng)
    fake.fake.clear()
    with contextlib.ExitStack() as stack:  # on every way out: load stopped, processes stopped, engine closed
        db = Database(database_url)
        stack.callback(db.close)
        deployment = stack.enter_context(
            Deployment(database_url, workdir, fake.base_url, apis=plan.apis, workers=plan.workers)
        )
        load_seconds = plan.messages / plan.rate
        kills = kill_schedule(rng, deployment.servers, plan.server_kills, 1.0, load_seconds - 2.0)
        kills += kill_schedule(rng, deployment.workers, plan.worker_kills, 1.0, load_seconds - 2.0)
        load = Load(messages, deployment.api_urls, plan.rate).start()
        stack.callback(load.stop)
        chaos = Chaos(sorted(kills, key=lambda item: item[0]), load.started)
        chaos.start()
        cut = _OutageThread(plan, outage, load.started, log) if plan.outage_at is not None else None
        if cut is not None:
            cut.start()
        finished = load.join(load_seconds + 120)
        chaos.join(120)
        if cut is not None:
            cut.join(plan.outage_seconds + 60)
        if chaos.error is not None:
            raise RuntimeError(f"a kill or restart failed: {chaos.error}") from chaos.error
        if cut is not None and cut.error is not None:
            raise RuntimeError(f"stopping or starting the database failed: {cut.error}") from cut.error
        log(f"load done in {time.monotonic() - load.started:.0f} s ({load.posted} posts); kills: {chaos.done}")
        drained = wait_drained(db, deployment, messages, fake.fake, plan.drain_timeout)
        result = audit(db, messages, fake.fake, worker_kills=plan.worker_kills)
        if not finished:
            result.problems.append("the load did not finish")
        if not drained:
            result.problems.append(f"not drained after {plan.drain_timeout:.0f} s: {db.backlog()}, "
                                   f"{deployment.spooled()} spooled")  # fmt: skip
        if result.problems:
            for proc in deployment.processes:
                log(f"--- {proc.name} log tail ---\n{proc.tail()}")
        result.counts |= {
            "server_kills": sum(p.kills for p in deployment.servers),
            "worker_kills": sum(p.kills for p in deployment.workers),
            "kills": chaos.done,
            "api_processes": plan.apis,
            "worker_processes": plan.workers,
            "seconds": round(time.monotonic() - began, 1),
        }
        if cut is not None:
            result.counts["outage"] = cut.done
        return result


class _OutageThread(threading.Thread):
    """Stop the database `plan.outage_at` seconds into the load and start it again `plan.outage_seconds` later."""

    def __init__(self, plan: Plan, outage: Any, started: float, log: Callable[[str], None]) -> None:
        super().__init__(name="outage", daemon=True)
        self.plan, self.outage, self.started, self.log = plan, outage, started, log
        self.done: dict[str, float] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        assert self.plan.outage_at is not None
        try:
            time.sleep(max(0.0, self.started + self.plan.outage_at - time.monotonic()))
            self.outage.stop()
            self.done["stopped_at_s"] = round(time.monotonic() - self.started, 1)
            self.log(f"database stopped at {self.done['stopped_at_s']} s")
            time.sleep(self.plan.outage_seconds)
            self.outage.start()
            self.done["started_at_s"] = round(time.monotonic() - self.started, 1)
            self.log(f"database started again at {self.done['started_at_s']} s")
        except BaseException as exc:  # reported by the scenario
            self.error = exc


def summary_line(name: str, result: Audit) -> str:
    """The counts as one JSON line (the kills' details left out)."""
    counts = {k: v for k, v in result.counts.items() if k != "kills"}
    return f"{name}: {json.dumps(counts)}"


def run_mid_send_kill(database_url: str, workdir: Path, *, messages: int = 12, events: int = 6, delay: float = 0.3,
                      seed: int = 9, log: Callable[[str], None] = lambda _line: None) -> Audit:  # fmt: skip
    """SIGKILL the worker while it sends alerts through a slow Twilio, start it again, and audit the run."""
    # Only the message in flight may be left in doubt; every other alert must still go out, once.
    began = time.monotonic()
    batch = make_messages(messages, events, random.Random(seed))
    db = Database(database_url)
    try:
        with slow_fake_twilio(delay) as server, Deployment(database_url, workdir, server.base_url) as deployment:
            load = Load(batch, deployment.api_urls, rate=20.0).start()
            finished = load.join(60)
            deadline = time.monotonic() + 90
            # Mid-stream: some alerts out already, one in flight, more waiting.
            while not (len(server.fake.requests) >= 2 and db.backlog()["sending"] and db.backlog()["pending"]):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the outbox never got busy: {db.backlog()}")
                time.sleep(0.05)
            worker = deployment.workers[0]
            worker.kill()
            log(f"worker killed mid-send: {db.backlog()}, {len(server.fake.requests)} requests at Twilio")
            worker.start()
            worker.wait_ready()
            drained = wait_drained(db, deployment, batch, server.fake, 120)
            result = audit(db, batch, server.fake, worker_kills=1)
            if not finished:
                result.problems.append("the load did not finish")
            if not drained:
                result.problems.append(f"not drained: {db.backlog()}")
            if result.problems:
                for proc in deployment.processes:
                    log(f"--- {proc.name} log tail ---\n{proc.tail()}")
            result.counts |= {"worker_kills": 1, "seconds": round(time.monotonic() - began, 1)}
            return result
    finally:
        db.close()


def migrate(database_url: str) -> None:
    """Bring a fresh database to the newest schema (what `kengele migrate` does)."""
    from app.core import migrations

    migrations.upgrade(database_url)
