"""Group commit for the inbox: one writer thread stores every waiting message in one transaction."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import transaction
from app.intake import service as inbox_service

logger = logging.getLogger(__name__)

# Above BUSY_RATE rows a second (three times the 200 messages/s the intake is sized for), the writer waits for more
# rows while they keep coming fast (two at least every LINGER_STEP_SECONDS), LINGER_MAX_SECONDS at most.
BUSY_RATE = 600.0
LINGER_STEP_SECONDS = 0.005
LINGER_MAX_SECONDS = 0.01


class IdempotencyConflict(Exception):
    """The same idempotency key was sent before with a different payload."""


@dataclass(frozen=True)
class StoreResult:
    """The outcome of one write: new or a retry, and the reporter's language if known."""

    created: bool
    language: str | None
    spooled: bool = False
    reporter_kind: str | None = None


Outcome = StoreResult | BaseException


def _settle_future(future: Future[StoreResult] | asyncio.Future[StoreResult], outcome: Outcome) -> None:
    # A caller that gave up waiting (and spooled the message itself) has already moved on: settle once.
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _settle_on_loop(settled: list[tuple[asyncio.Future[StoreResult], Outcome]]) -> None:
    for future, outcome in settled:
        _settle_future(future, outcome)


@dataclass
class PendingWrite:
    """One queued inbox row and whoever waits for it: a thread (`future`) or an event loop (`loop`, `waiter`)."""

    values: dict[str, Any]
    check_conflict: bool
    payload: Any = None  # what `prepare` completes `values` from, in the writer thread
    future: Future[StoreResult] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[StoreResult] | None = field(default=None, repr=False)


def settle(items: list[tuple[PendingWrite, Outcome]]) -> None:
    """Settle many writes; the waiters of one event loop are woken with one call, not one per message."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[StoreResult], Outcome]]] = {}
    for item, outcome in items:
        if item.waiter is not None and item.loop is not None:
            by_loop.setdefault(item.loop, []).append((item.waiter, outcome))
        elif item.future is not None:
            _settle_future(item.future, outcome)
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_on_loop, settled)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            logger.warning("inbox writer: event loop closed before %d writes were answered", len(settled))


class InboxWriter:
    """Batches concurrent inbox inserts into one commit: one fsync for many messages, not one each.

    While a commit is in flight, new requests queue up; the next transaction takes all of them (under load, after
    waiting up to `linger` seconds for more). A batch whose transaction fails is handed back whole to `on_failure`
    (the spool), so nothing is lost.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        on_failure: Callable[[list[PendingWrite], SQLAlchemyError], None],
        max_batch: int = 256,
        prepare: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None,
        linger: float = LINGER_MAX_SECONDS,
    ) -> None:
        self._factory = factory
        self._on_failure = on_failure
        self._max_batch = max_batch
        self._linger = linger
        # Completes a row from its payload (encryption, digests) here rather than on the request path: the work
        # is the same, but done in a batch it does not hand the interpreter lock back and forth per request.
        self._prepare = prepare
        self._queue: queue.SimpleQueue[PendingWrite | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(
        self, values: dict[str, Any], *, check_conflict: bool = False, payload: Any = None
    ) -> Future[StoreResult]:
        """Queue one inbox row; the future resolves once it is committed (or handed to the spool)."""
        pending = PendingWrite(values, check_conflict, payload, future=Future())
        self._put(pending)
        return pending.future  # type: ignore[return-value]

    def submit_async(
        self, values: dict[str, Any], *, check_conflict: bool = False, payload: Any = None
    ) -> asyncio.Future[StoreResult]:
        """Queue one inbox row from the running event loop; the asyncio future resolves as `submit`'s does."""
        loop = asyncio.get_running_loop()
        pending = PendingWrite(values, check_conflict, payload, loop=loop, waiter=loop.create_future())
        self._put(pending)
        return pending.waiter  # type: ignore[return-value]

    def stop(self, timeout: float = 10) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _put(self, pending: PendingWrite) -> None:
        if self._thread is None:
            self._start()
        self._queue.put(pending)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        taken_at, rate = time.monotonic(), 0.0
        while True:
            first = self._queue.get()
            if first is None:
                return
            if rate > BUSY_RATE:
                self._wait_for_more()
            batch = [first]
            stopping = self._drain(batch)
            # Rows a second since the previous batch was taken: the load, whatever the batch sizes.
            now = time.monotonic()
            taken_at, rate = now, len(batch) / max(now - taken_at, LINGER_STEP_SECONDS)
            self._write(batch)
            if stopping:
                return

    def _wait_for_more(self) -> None:
        """Wait while rows keep arriving fast, up to `linger` seconds in all (and at most `max_batch` rows)."""
        # A transaction costs about 1.3 ms of this thread's time whatever its size (bench machine, under load), most
        # of it holding the interpreter lock the requests need too: at saturation batches of 3-4 rows spent a third
        # of a millisecond per message on it. When rows slow down (every request waits on us), so does the wait.
        deadline = time.monotonic() + self._linger
        queued = self._queue.qsize()
        while queued < self._max_batch and time.monotonic() < deadline:
            time.sleep(LINGER_STEP_SECONDS)
            now = self._queue.qsize()
            if now - queued < 2:
                return
            queued = now

    def _drain(self, batch: list[PendingWrite]) -> bool:
        """Move what is queued into the batch (up to its limit); True when the stop marker was among it."""
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _write(self, batch: list[PendingWrite]) -> None:
        try:
            if self._prepare is not None:
                for item in batch:
                    item.values = self._prepare(item.values, item.payload)
            with transaction(self._factory) as session:
                connection = session.connection()
                outcomes = self._store_batch(session, connection, batch)
                senders = [item.values["sender_hash"] for item in batch if item.values["sender_hash"]]
                reporters = inbox_service.reporters_by_hash(connection=connection, hashes=senders)
        except SQLAlchemyError as exc:
            self._on_failure(batch, exc)
            return
        except Exception as exc:  # a bug must fail the requests, not kill the writer
            logger.error("inbox writer failed (%s)", type(exc).__name__)
            settle([(item, exc) for item in batch])
            return
        settled: list[tuple[PendingWrite, Outcome]] = []
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                settled.append((item, outcome))
            else:
                language, kind = reporters.get(item.values["sender_hash"], (None, None))
                settled.append((item, StoreResult(outcome, language, reporter_kind=kind)))
        settle(settled)

    @staticmethod
    def _store_batch(session: Session, connection: Connection, batch: list[PendingWrite]) -> list[bool | Exception]:
        created_keys = inbox_service.insert_batch(connection=connection, rows=[item.values for item in batch])
        seen: set[tuple[str, str]] = set()
        outcomes: list[bool | Exception] = []
        for item in batch:
            key = (item.values["source"], item.values["external_id"])
            # A provider retry can land in the same batch as the original: only the first one is new.
            created = key in created_keys and key not in seen
            seen.add(key)
            if not created and item.check_conflict:
                existing = inbox_service.get_by_external_id(session=session, source=key[0], external_id=key[1])
                if existing is not None and existing.payload_digest != item.values["payload_digest"]:
                    outcomes.append(IdempotencyConflict())
                    continue
            outcomes.append(created)
        return outcomes
