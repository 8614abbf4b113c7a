"""Accepting inbound messages: inbox first, spool to disk when the database fails, replay when it returns."""

from __future__ import annotations

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
from app.reporters import service as reporter_service
from app.security.crypto import Vault

logger = logging.getLogger(__name__)


class IdempotencyConflict(Exception):
    """The same idempotency key was sent before with a different payload."""


class IntakeUnavailable(Exception):
    """Neither the database nor the spool could take the message: the provider must retry."""


@dataclass(frozen=True)
class Acceptance:
    """What the provider is told: the receipt, whether this was a retry, whether it went to the spool."""

    receipt_ref: str
    created: bool
    spooled: bool
    language: str | None


class IntakeGateway:
    """Owns the intake transaction: store the raw message, or spool it; never lose an accepted message."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        vault: Vault,
        spool: Spool,
        on_accepted: Callable[[], None] = lambda: None,
    ) -> None:
        self._factory = factory
        self._vault = vault
        self._spool = spool
        self._on_accepted = on_accepted
        self._replay_lock = threading.Lock()
        metrics.SPOOL_DEPTH.set(spool.depth())

    def accept(self, envelope: InboundEnvelope, *, check_conflict: bool = False) -> Acceptance:
        """Store the envelope once per provider id and return the receipt to answer with."""
        values = self._row_values(envelope, utcnow())
        try:
            with transaction(self._factory) as session:
                created = inbox_service.store(session=session, values=values)
                if not created and check_conflict:
                    self._raise_on_conflict(session, envelope, values["payload_digest"])
                language = envelope.language or reporter_service.preferred_language(
                    session=session, identity_hash=values["sender_hash"]
                )
        except SQLAlchemyError as exc:
            logger.error("database write failed (%s); spooling %s message", type(exc).__name__, envelope.source)
            self._spool_row(envelope, values)
            return Acceptance(values["receipt_ref"], created=True, spooled=True, language=envelope.language)
        channel = envelope.channel
        (metrics.MESSAGES_ACCEPTED if created else metrics.MESSAGES_DUPLICATE).labels(channel).inc()
        if created:
            self._on_accepted()
        return Acceptance(values["receipt_ref"], created=created, spooled=False, language=language)

    def replay_spool(self) -> int:
        """Move spooled messages into the inbox; stops at the first database failure. Returns how many moved."""
        moved = 0
        with self._replay_lock:
            for path in self._spool.pending():
                record = self._spool.load(path)
                values = {**record, "received_at": datetime.fromisoformat(record["received_at"])}
                values["next_attempt_at"] = datetime.fromisoformat(record["next_attempt_at"])
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

    def _row_values(self, envelope: InboundEnvelope, now: datetime) -> dict[str, Any]:
        payload = dataclasses.asdict(envelope)
        content = {k: v for k, v in payload.items() if k != "provider_fields"}
        sender_hash = (
            reporter_service.phone_identity(self._vault, envelope.sender_phone) if envelope.sender_phone else None
        )
        return {
            "source": envelope.source,
            "external_id": envelope.external_id,
            "payload_encrypted": self._vault.encrypt(json.dumps(payload, ensure_ascii=False)),
            "payload_digest": self._vault.lookup_hash(json.dumps(content, sort_keys=True), purpose="payload"),
            "sender_hash": sender_hash,
            "receipt_ref": receipts.receipt_ref(self._vault, envelope.source, envelope.external_id),
            "received_at": now,
            "spooled": False,
            "attempts": 0,
            "next_attempt_at": now,
        }

    def _raise_on_conflict(self, session: Session, envelope: InboundEnvelope, digest: str) -> None:
        existing = inbox_service.get_by_external_id(
            session=session, source=envelope.source, external_id=envelope.external_id
        )
        if existing is not None and existing.payload_digest != digest:
            raise IdempotencyConflict

    def _spool_row(self, envelope: InboundEnvelope, values: dict[str, Any]) -> None:
        record = {
            **values,
            "spooled": True,
            "received_at": values["received_at"].isoformat(),
            "next_attempt_at": values["next_attempt_at"].isoformat(),
        }
        try:
            self._spool.put(f"{envelope.source}:{envelope.external_id}", record)
        except OSError as exc:
            logger.critical("spool write failed (%s): refusing the message so the provider retries", exc.strerror)
            raise IntakeUnavailable from None
        metrics.MESSAGES_SPOOLED.labels(envelope.channel).inc()
        metrics.MESSAGES_ACCEPTED.labels(envelope.channel).inc()
        metrics.SPOOL_DEPTH.set(self._spool.depth())
