"""Group commit for the inbox: one writer thread stores every waiting message in one transaction."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import transaction
from app.intake import service as inbox_service
from app.reporters.models import Reporter

logger = logging.getLogger(__name__)


class IdempotencyConflict(Exception):
    """The same idempotency key was sent before with a different payload."""


@dataclass(frozen=True)
class StoreResult:
    """The outcome of one write: new or a retry, and the reporter's language if known."""

    created: bool
    language: str | None
    spooled: bool = False
    reporter_kind: str | None = None


def resolve(future: Future[StoreResult], result: StoreResult | None = None, error: Exception | None = None) -> None:
    """Settle a write's future once; a caller that gave up waiting (and spooled) has already moved on."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


@dataclass
class PendingWrite:
    values: dict[str, Any]
    check_conflict: bool
    future: Future[StoreResult]


class InboxWriter:
    """Batches concurrent inbox inserts into one commit: one fsync for many messages, not one each.

    While a commit is in flight, new requests queue up; the next transaction takes all of them. A batch
    whose transaction fails is handed back whole to `on_failure` (the spool), so nothing is lost.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        on_failure: Callable[[list[PendingWrite], SQLAlchemyError], None],
        max_batch: int = 256,
    ) -> None:
        self._factory = factory
        self._on_failure = on_failure
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[PendingWrite | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, values: dict[str, Any], *, check_conflict: bool = False) -> Future[StoreResult]:
        """Queue one inbox row; the future resolves once it is committed (or handed to the spool)."""
        self._ensure_started()
        pending = PendingWrite(values, check_conflict, Future())
        self._queue.put(pending)
        return pending.future

    def stop(self, timeout: float = 10) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[PendingWrite]) -> None:
        try:
            with transaction(self._factory) as session:
                outcomes = self._store_batch(session, batch)
                reporters = self._reporters(session, [item.values["sender_hash"] for item in batch])
        except SQLAlchemyError as exc:
            self._on_failure(batch, exc)
            return
        except Exception as exc:  # a bug must fail the requests, not kill the writer
            logger.error("inbox writer failed (%s)", type(exc).__name__)
            for item in batch:
                resolve(item.future, error=exc)
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                resolve(item.future, error=outcome)
            else:
                language, kind = reporters.get(item.values["sender_hash"], (None, None))
                resolve(item.future, StoreResult(outcome, language, reporter_kind=kind))

    @staticmethod
    def _store_batch(session: Session, batch: list[PendingWrite]) -> list[bool | Exception]:
        created_keys = inbox_service.store_many(session=session, rows=[item.values for item in batch])
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

    @staticmethod
    def _reporters(session: Session, sender_hashes: list[str | None]) -> dict[str, tuple[str | None, str]]:
        """Language and kind of the senders already known, for the reply."""
        wanted = {h for h in sender_hashes if h}
        if not wanted:
            return {}
        rows = session.execute(
            select(Reporter.identity_hash, Reporter.language, Reporter.kind).where(Reporter.identity_hash.in_(wanted))
        )
        return {row[0]: (row[1], row[2]) for row in rows}
