"""Accepting inbound messages: inbox first (group-committed), spool to disk when the database fails."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.core import metrics
from app.core.clock import utcnow
from app.core.db import transaction
from app.feedback import receipts
from app.intake import service as inbox_service
from app.intake.schemas import InboundEnvelope
from app.intake.spool import Spool
from app.intake.writer import IdempotencyConflict, InboxWriter, PendingWrite, StoreResult, settle
from app.reporters import service as reporter_service
from app.security.crypto import Vault

logger = logging.getLogger(__name__)

__all__ = ["Acceptance", "IdempotencyConflict", "IntakeGateway", "IntakeUnavailable"]

_ENVELOPE_FIELDS = dataclasses.fields(InboundEnvelope)


def _give_up(waiter: asyncio.Future[StoreResult]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class IntakeUnavailable(Exception):
    """Neither the database nor the spool could take the message: the provider must retry."""


@dataclass(frozen=True)
class Acceptance:
    """What the provider is told: the receipt, whether this was a retry, whether it went to the spool."""

    receipt_ref: str
    created: bool
    spooled: bool
    language: str | None
    reporter_kind: str | None = None


class IntakeGateway:
    """Store each message once per provider id, or spool it; never lose a message we answered for."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        vault: Vault,
        spool: Spool,
        on_accepted: Callable[[], None] = lambda: None,
        write_timeout: float = 8.0,
    ) -> None:
        self._factory = factory
        self._vault = vault
        self._spool = spool
        self._on_accepted = on_accepted
        # Twilio gives up after 15 s; past this we answer from the spool rather than wait on the database.
        self._write_timeout = write_timeout
        self._writer = InboxWriter(factory.kw["bind"], on_failure=self._spool_batch, prepare=self._sealed)
        self._replay_lock = threading.Lock()
        metrics.SPOOL_DEPTH.set(spool.depth())

    def accept(self, envelope: InboundEnvelope, *, check_conflict: bool = False) -> Acceptance:
        """Store the envelope (blocking) and return the receipt to answer with."""
        values = self._row_values(envelope, utcnow())
        future = self._writer.submit(values, check_conflict=check_conflict, payload=envelope)
        try:
            result = future.result(timeout=self._write_timeout)
        except concurrent.futures.TimeoutError:
            result = self._spool_late(envelope, values)
        return self._finish(envelope, values, result)

    async def accept_async(self, envelope: InboundEnvelope, *, check_conflict: bool = False) -> Acceptance:
        """Store the envelope without blocking the event loop and return the receipt to answer with."""
        values = self._row_values(envelope, utcnow())
        waiter = self._writer.submit_async(values, check_conflict=check_conflict, payload=envelope)
        # A timer that fails only our wait (the queued write goes on): cheaper than wait_for + shield per request.
        timer = asyncio.get_running_loop().call_later(self._write_timeout, _give_up, waiter)
        try:
            result = await waiter
        except TimeoutError:
            result = self._spool_late(envelope, values)
        finally:
            timer.cancel()
        return self._finish(envelope, values, result)

    def close(self) -> None:
        """Flush queued writes and stop the writer thread."""
        self._writer.stop()

    def replay_spool(self) -> int:
        """Move spooled messages into the inbox; stops at the first database failure. Returns how many moved."""
        moved = 0
        with self._replay_lock:
            for path in self._spool.pending():
                record = self._spool.load(path)
                values = {
                    **record,
                    "received_at": datetime.fromisoformat(record["received_at"]),
                    "next_attempt_at": datetime.fromisoformat(record["next_attempt_at"]),
                }
                try:
                    with transaction(self._factory) as session:
                        inbox_service.store(session=session, values=values)
                except SQLAlchemyError as exc:
                    logger.warning("spool replay paused: database still failing (%s)", type(exc).__name__)
                    break
                self._spool.remove(path)
                moved += 1
                metrics.SPOOL_REPLAYED.inc()
            metrics.SPOOL_DEPTH.set(self._spool.depth())
        if moved:
            logger.info("replayed %d spooled messages into the inbox", moved)
            self._on_accepted()
        return moved

    def _finish(self, envelope: InboundEnvelope, values: dict[str, Any], result: StoreResult) -> Acceptance:
        if result.spooled:
            metrics.MESSAGES_SPOOLED.labels(envelope.channel).inc()
        (metrics.MESSAGES_ACCEPTED if result.created else metrics.MESSAGES_DUPLICATE).labels(envelope.channel).inc()
        if result.created and not result.spooled:
            self._on_accepted()
        return Acceptance(
            values["receipt_ref"],
            created=result.created,
            spooled=result.spooled,
            language=envelope.language or result.language,
            reporter_kind=result.reporter_kind,
        )

    def _row_values(self, envelope: InboundEnvelope, now: datetime) -> dict[str, Any]:
        """The row's keys and bookkeeping; the encrypted payload and its digest are added by `_sealed`."""
        sender = envelope.sender_phone
        return {
            "source": envelope.source,
            "external_id": envelope.external_id,
            "sender_hash": reporter_service.phone_identity(self._vault, sender) if sender else None,
            "receipt_ref": receipts.receipt_ref(self._vault, envelope.source, envelope.external_id),
            "received_at": now,
            "spooled": False,
            "exercise": envelope.exercise,
            "attempts": 0,
            "next_attempt_at": now,
        }

    def _sealed(self, values: dict[str, Any], envelope: InboundEnvelope) -> dict[str, Any]:
        """The complete row: `values` plus the envelope encrypted, and the keyed digest that detects reused keys."""
        # Shallow: dataclasses.asdict deep-copies every field, and only JSON is made of it (same keys, same order).
        payload = {f.name: getattr(envelope, f.name) for f in _ENVELOPE_FIELDS}
        content = {name: value for name, value in payload.items() if name != "provider_fields"}
        return {
            **values,
            "payload_encrypted": self._vault.encrypt(json.dumps(payload, ensure_ascii=False)),
            "payload_digest": self._vault.lookup_hash(json.dumps(content, sort_keys=True), purpose="payload"),
        }

    def _spool_batch(self, batch: list[PendingWrite], exc: SQLAlchemyError) -> None:
        logger.error("database write failed (%s); spooling %d messages", type(exc).__name__, len(batch))
        settled: list[tuple[PendingWrite, StoreResult | BaseException]] = []
        for item in batch:
            try:
                self._spool_values(item.values)
            except IntakeUnavailable as unavailable:
                settled.append((item, unavailable))
            else:
                settled.append((item, StoreResult(created=True, language=None, spooled=True)))
        settle(settled)

    def _spool_late(self, envelope: InboundEnvelope, values: dict[str, Any]) -> StoreResult:
        logger.error(
            "database write still pending after %.0f s; spooling %s message", self._write_timeout, envelope.source
        )
        self._spool_values(self._sealed(values, envelope))
        return StoreResult(created=True, language=None, spooled=True)

    def _spool_values(self, values: dict[str, Any]) -> None:
        record = {
            **values,
            "spooled": True,
            "received_at": values["received_at"].isoformat(),
            "next_attempt_at": values["next_attempt_at"].isoformat(),
        }
        try:
            self._spool.put(f"{values['source']}:{values['external_id']}", record)
        except OSError as exc:
            logger.critical("spool write failed (%s): refusing the message so the provider retries", exc.strerror)
            raise IntakeUnavailable from None
        metrics.SPOOL_DEPTH.set(self._spool.depth())
