"""The inbox: every accepted inbound message, stored raw (encrypted) before the provider gets its answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class InboundMessage(Base):
    """One accepted message from a provider, keyed by the provider's id; processed later by id."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        # The worker's claim query reads only unprocessed rows; keep that index small.
        Index(
            "ix_inbound_message_due",
            "next_attempt_at",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
        # Rows whose copy at the provider is still to be deleted: the eraser reads only those.
        Index(
            "ix_inbound_message_provider_copy",
            "received_at",
            sqlite_where=text("provider_deleted_at IS NULL AND source IN ('twilio_sms', 'twilio_voice')"),
            postgresql_where=text("provider_deleted_at IS NULL AND source IN ('twilio_sms', 'twilio_voice')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # twilio_sms, partner
    external_id: Mapped[str] = mapped_column(String(200))  # MessageSid, or partner id + idempotency key
    # The provider's fields, sender and body included, encrypted with the vault: the inbox holds PII.
    payload_encrypted: Mapped[str] = mapped_column(Text)
    # Keyed hash of the payload, to tell a true retry from a reused idempotency key.
    payload_digest: Mapped[str] = mapped_column(String(64))
    # Neither is looked up here (receipts are found on the report, reporters by their own table): not indexed, as
    # every message would pay to write two more random keys.
    sender_hash: Mapped[str | None] = mapped_column(String(64))
    receipt_ref: Mapped[str] = mapped_column(String(12))
    received_at: Mapped[datetime]
    spooled: Mapped[bool] = mapped_column(Boolean, default=False)
    # A drill message: only a signed request can say so (see intake.schemas.TwilioSmsForm.exercise).
    exercise: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    # Exception class only: messages can carry personal data.
    last_error: Mapped[str | None] = mapped_column(String(200))
    # When the provider's own copy (Twilio's message or call record: the sender's number, the body) was deleted.
    provider_deleted_at: Mapped[datetime | None]
    provider_delete_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
