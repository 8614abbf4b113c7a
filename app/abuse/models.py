"""Operator warnings: one number flooding, or a burst of unknown numbers in one area (a possible decoy)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class WarningKind:
    sender_flood = "sender_flood"  # one number sending far more than a witness would
    unknown_burst = "unknown_burst"  # many first-time numbers reporting in one area at once


class OperatorWarning(Base):
    """A pattern operators must look at; counts grow while it lasts, and it never holds a number or a text."""

    __tablename__ = "operator_warning"
    __table_args__ = (Index("ix_operator_warning_key_last", "key", "last_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # What it is about: "reporter:<id>" for a flood, "cell:<lat>:<lon>" (0.25°) for a burst.
    key: Mapped[str] = mapped_column(String(64))
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("reporter.id", ondelete="SET NULL"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id", ondelete="SET NULL"))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    message_count: Mapped[int] = mapped_column(default=0)
    sender_count: Mapped[int] = mapped_column(default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    exercise: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
