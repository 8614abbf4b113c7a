"""Group commit for the inbox: one writer thread stores every waiting message in one transaction."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app.intake import service as inbox_service

logger = logging.getLogger(__name__)

# 11 bound values a row: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters per statement.
MAX_ROWS_PER_STATEMENT = 256
# The writer keeps its connection while messages keep coming, and gives it back to the pool after this long idle.
IDLE_CONNECTION_SECONDS = 0.5


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

    An event loop's rows are handed over once per turn of the loop, all the requests that reached the inbox in that
    turn together; while a commit is in flight, what comes in queues up and the next transaction takes all of it.
    A batch whose transaction fails is handed back whole to `on_failure` (the spool), so nothing is lost.
    """

    def __init__(
        self,
        engine: Engine,
        on_failure: Callable[[list[PendingWrite], SQLAlchemyError], None],
        max_batch: int = MAX_ROWS_PER_STATEMENT,
        prepare: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None,
        idle_seconds: float = IDLE_CONNECTION_SECONDS,
    ) -> None:
        # A Core transaction: the writer runs two statements of plain SQL, and an ORM session around them cost more.
        self._engine = engine
        self._begin: Callable[[], AbstractContextManager[Connection]] = self._begin_on_own_connection
        self._connection: Connection | None = None
        self._idle_seconds = idle_seconds
        self._on_failure = on_failure
        self._max_batch = max_batch
        # Completes a row from its payload (encryption, digests) here rather than on the request path: the work
        # is the same, but done in a batch it does not hand the interpreter lock back and forth per request.
        self._prepare = prepare
        self._queue: queue.SimpleQueue[PendingWrite | list[PendingWrite] | None] = queue.SimpleQueue()
        # Each event loop's rows of its current turn, handed over as one item when the turn ends.
        self._turns: dict[asyncio.AbstractEventLoop, list[PendingWrite]] = {}
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
        turn = self._turns.get(loop)
        if turn is None:
            # Handed over by a callback that runs after the requests that are ready now have all been dispatched:
            # a burst becomes one transaction with nothing waited for (a timed linger, 5 ms at a time, had left the
            # server idle for a third of a saturation run).
            turn = self._turns[loop] = []
            loop.call_soon(self._end_turn, loop)
        turn.append(pending)
        return pending.waiter  # type: ignore[return-value]

    def _end_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        self._put(self._turns.pop(loop))

    def stop(self, timeout: float = 10) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _put(self, pending: PendingWrite | list[PendingWrite]) -> None:
        if self._thread is None:
            self._start()
        self._queue.put(pending)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                self._thread.start()

    @contextmanager
    def _begin_on_own_connection(self) -> Iterator[Connection]:
        """A transaction on the writer thread's own connection, kept from batch to batch while messages keep coming
        (checking one out of the pool and back in cost a tenth of a message's intake at saturation); dropped after a
        failure, so the next batch reconnects."""
        if self._connection is None:
            self._connection = self._engine.connect()
        try:
            with self._connection.begin():
                yield self._connection
        except BaseException:
            self._close_connection()
            raise

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(SQLAlchemyError):  # a connection the database already dropped
                connection.close()

    def _run(self) -> None:
        try:
            while True:
                try:
                    first = self._queue.get(timeout=self._idle_seconds)
                except queue.Empty:
                    self._close_connection()  # idle: the pool has it back until the next message
                    first = self._queue.get()
                if first is None:
                    return
                batch = first if isinstance(first, list) else [first]
                stopping = self._drain(batch)
                self._write(batch)
                if stopping:
                    return
        finally:
            self._close_connection()

    def _drain(self, batch: list[PendingWrite]) -> bool:
        """Move what is queued into the batch (up to its limit); True when the stop marker was among it."""
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            if isinstance(item, list):
                batch.extend(item)
            else:
                batch.append(item)
        return False

    def _write(self, batch: list[PendingWrite]) -> None:
        try:
            if self._prepare is not None:
                for item in batch:
                    item.values = self._prepare(item.values, item.payload)
            try:
                outcomes, reporters = self._store(batch)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The database dropped the connection kept from the last batch (a restart, an idle timeout): once
                # more on a new one before the spool. Safe: a row the lost attempt did store is found, not doubled.
                outcomes, reporters = self._store(batch)
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

    def _store(self, batch: list[PendingWrite]) -> tuple[list[bool | Exception], dict[str, tuple[str | None, str]]]:
        with self._begin() as connection:
            outcomes = self._store_batch(connection, batch)
            senders = [item.values["sender_hash"] for item in batch if item.values["sender_hash"]]
            return outcomes, inbox_service.reporters_by_hash(connection=connection, hashes=senders)

    @staticmethod
    def _store_batch(connection: Connection, batch: list[PendingWrite]) -> list[bool | Exception]:
        created_keys: set[tuple[str, str]] = set()
        for start in range(0, len(batch), MAX_ROWS_PER_STATEMENT):  # a turn of the loop may bring more
            rows = [item.values for item in batch[start : start + MAX_ROWS_PER_STATEMENT]]
            created_keys |= inbox_service.insert_batch(connection=connection, rows=rows)
        seen: set[tuple[str, str]] = set()
        outcomes: list[bool | Exception] = []
        for item in batch:
            key = (item.values["source"], item.values["external_id"])
            # A provider retry can land in the same batch as the original: only the first one is new.
            created = key in created_keys and key not in seen
            seen.add(key)
            if not created and item.check_conflict:
                stored = inbox_service.stored_digest(connection=connection, source=key[0], external_id=key[1])
                if stored is not None and stored != item.values["payload_digest"]:
                    outcomes.append(IdempotencyConflict())
                    continue
            outcomes.append(created)
        return outcomes
