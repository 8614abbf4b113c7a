"""The outbox: every message Kengele sends is a row first, sent exactly once by the worker, then tracked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Notification(Base):
    """One outbound message to a unit, a CLA or a reporter, with its provider's view of where it is."""

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_due", "next_attempt_at", sqlite_where=text("state = 'pending'"),
              postgresql_where=text("state = 'pending'")),
        # Messages to reporters whose copy at the provider is still to be deleted.
        Index("ix_notification_provider_copy", "sent_at",
              sqlite_where=text("reporter_id IS NOT NULL AND provider_id IS NOT NULL AND provider_deleted_at IS NULL"),
              postgresql_where=text(
                  "reporter_id IS NOT NULL AND provider_id IS NOT NULL AND provider_deleted_at IS NULL")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    # "incident:K-4821:unit:7:level:0:round:0:sms": writing the same notification twice is a no-op.
    key: Mapped[str] = mapped_column(String(160), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))  # alert, stand_down, reporter_update, callback_task
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    # The address is read, decrypted, from the contact or the reporter when the message is sent: one copy.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("unit_contact.id", ondelete="SET NULL"))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("reporter.id"))
    channel: Mapped[str] = mapped_column(String(12))  # sms, voice, webhook, console
    address_masked: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)  # Kengele's own words, never a reporter's message
    # About a drill: the text starts with the exercise mark, and webhook payloads say so for machines.
    exercise: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    language: Mapped[str | None] = mapped_column(String(8))  # of a voice call; None: the deployment's
    validity_s: Mapped[int | None]
    # pending (due to send), sent (the provider took it), failed (it never will), canceled (no longer needed)
    state: Mapped[str] = mapped_column(String(12), default="pending")
    provider_id: Mapped[str | None] = mapped_column(String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(String(20))  # queued, sent, delivered, completed, …
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    status_at: Mapped[datetime | None]
    # When the provider's copy of a message to a reporter (their number, our words) was deleted.
    provider_deleted_at: Mapped[datetime | None]
    provider_delete_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
