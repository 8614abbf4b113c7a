"""Following the feed: read `feed_event` after a position, woken by commits here, NOTIFY from other processes
(PostgreSQL) and, in any case, a short poll."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio
import anyio.abc
import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette.event import JSONServerSentEvent, ServerSentEvent

from app.core.clock import utcnow
from app.feed import events
from app.feed.models import FeedEventRow

logger = logging.getLogger(__name__)

# Module settings (tests change them): how often a stream looks at the table when nothing woke it (another
# process on SQLite, a NOTIFY lost while the listener reconnected), and the keep-alive comment proxies need.
POLL_SECONDS = 0.5
PING_SECONDS = 15.0
# Then the stream ends and the browser reconnects with Last-Event-ID: its token is checked again.
MAX_LIFETIME_SECONDS = 600.0
# Tells browsers how soon to reconnect when a stream ends (lifetime reached, server restarting).
RECONNECT_MS = 2000
# A client that missed more than this reloads the incident list instead of replaying the feed.
CATCH_UP_LIMIT = 1000
BATCH = 200
LISTENER_RETRY_SECONDS = 2.0
# The streams' reads get threads of their own: a read waiting for SQLite's write lock (a worker batch) must not
# hold one of the threads the API's routes run in.
_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="feed-read")
T = TypeVar("T")


class Hub:
    """Wakes this process's streams when the feed may have grown; safe to call from any thread."""

    def __init__(self) -> None:
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many streams are waiting now."""
        with self._lock:
            return len(self._waiters)

    def wake(self, _event: object = None) -> None:
        """Make every waiting stream read the table now."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, flag in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed, and its stream with it
                loop.call_soon_threadsafe(flag.set)

    @contextlib.contextmanager
    def waiter(self) -> Iterator[asyncio.Event]:
        """An event, set on every wake(), for one stream on the running loop."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._waiters.discard(entry)


hub = Hub()
events.subscribe(hub.wake)  # commits in this process (the embedded worker, operators' actions)


class Listener:
    """LISTEN on a dedicated PostgreSQL connection in a thread; each notification wakes this process's streams."""

    def __init__(self, conninfo: str, on_notify: Callable[[], None]) -> None:
        self._conninfo = conninfo
        self._on_notify = on_notify
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed-listener", daemon=True)

    def start(self) -> None:
        """Listen in the background until stop()."""
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        """Stop listening; returns within about half a second."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:  # the database is away: streams keep polling, we reconnect
                logger.warning("feed listener: %s; retrying", type(exc).__name__)
                self._stop.wait(LISTENER_RETRY_SECONDS)

    def _listen(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"LISTEN {events.CHANNEL}")
            self._on_notify()  # whatever committed while nobody was listening
            while not self._stop.is_set():
                for _notification in connection.notifies(timeout=0.5):  # how long stop() may wait
                    self._on_notify()


def start_feed(state: Any) -> None:
    """Start what this process needs to hear other processes' feed events at once (PostgreSQL's LISTEN)."""
    engine: Engine = state.engine
    if engine.dialect.name != "postgresql" or getattr(state, "feed_listener", None) is not None:
        return  # SQLite: one writer process; commits here wake streams directly, polling covers the rest
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    state.feed_listener = Listener(conninfo, hub.wake)
    state.feed_listener.start()


def stop_feed(state: Any) -> None:
    """Stop what start_feed() started."""
    listener = getattr(state, "feed_listener", None)
    if listener is not None:
        listener.stop()
        state.feed_listener = None


def message(row: FeedEventRow) -> ServerSentEvent:
    """The server-sent event for one feed row: id, event kind, and its public facts as JSON."""
    return JSONServerSentEvent({"ref": row.ref, "at": row.at.isoformat(), **row.data}, event=row.kind, id=str(row.id))


def resync(position: int, reason: str) -> ServerSentEvent:
    """Tell the client to reload the incident list: the events it missed cannot all be replayed."""
    return JSONServerSentEvent({"reason": reason, "at": utcnow().isoformat()}, event="resync", id=str(position))


def resume_point(factory: sessionmaker[Session], last_event_id: int | None) -> tuple[int, ServerSentEvent | None]:
    """Where a stream starts: after the client's last event, else now; with a resync event when it cannot."""
    with factory() as session:
        latest = session.scalar(select(func.max(FeedEventRow.id))) or 0
        if last_event_id is None:
            return latest, None
        beyond_limit = session.scalar(
            select(FeedEventRow.id)
            .where(FeedEventRow.id > last_event_id)
            .order_by(FeedEventRow.id)
            .offset(CATCH_UP_LIMIT)
            .limit(1)
        )
    if last_event_id > latest:  # an id this database never gave (restored or replaced): start afresh
        return latest, resync(latest, "unknown_position")
    if beyond_limit is not None:
        return latest, resync(latest, "too_many_missed")
    return last_event_id, None


def read_after(factory: sessionmaker[Session], position: int) -> list[ServerSentEvent] | None:
    """The next events after `position`, oldest first; None when the database cannot be read now."""
    try:
        with factory() as session:  # one short read, never a transaction held while waiting
            rows = session.scalars(
                select(FeedEventRow).where(FeedEventRow.id > position).order_by(FeedEventRow.id).limit(BATCH)
            )
            return [message(row) for row in rows]
    except SQLAlchemyError as exc:
        logger.warning("feed stream: database unavailable (%s); retrying", type(exc).__name__)
        return None


async def in_reader_thread(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking read in the feed's own threads."""
    return await asyncio.get_running_loop().run_in_executor(_READS, function, *args)


async def follow(
    factory: sessionmaker[Session], last_event_id: int | None, closing: anyio.Event | None = None
) -> AsyncIterator[ServerSentEvent]:
    """Every feed event after `last_event_id` (or from now), then each new one as it commits, until `closing` is
    set or the stream's lifetime is over."""
    closing = closing or anyio.Event()
    with hub.waiter() as woken:  # registered before the first read: no commit can slip between read and wait
        position, notice = await in_reader_thread(resume_point, factory, last_event_id)
        yield ServerSentEvent(comment=f"following the feed after {position}", retry=RECONNECT_MS)
        if notice is not None:
            yield notice
        deadline = anyio.current_time() + MAX_LIFETIME_SECONDS
        while not closing.is_set() and anyio.current_time() < deadline:
            woken.clear()
            batch = await in_reader_thread(read_after, factory, position)
            for item in batch or []:
                yield item
                position = int(item.id)  # type: ignore[arg-type]
            if batch is None or len(batch) < BATCH:
                await first_of(woken, closing, timeout=min(POLL_SECONDS, deadline - anyio.current_time()))


async def first_of(*flags: asyncio.Event | anyio.Event, timeout: float) -> None:
    """Return as soon as one of the flags is set, or after `timeout` seconds."""

    async def wait(flag: asyncio.Event | anyio.Event, group: anyio.abc.TaskGroup) -> None:
        await flag.wait()
        group.cancel_scope.cancel()

    with anyio.move_on_after(timeout):
        async with anyio.create_task_group() as group:
            for flag in flags:
                group.start_soon(wait, flag, group)
