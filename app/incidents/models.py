"""Reports: one per processed inbound message, the unit that later steps understand, locate and cluster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Report(Base):
    """What one person said once, with what the provider told us about where and when."""

    __tablename__ = "report"

    id: Mapped[int] = mapped_column(primary_key=True)
    inbound_message_id: Mapped[int] = mapped_column(ForeignKey("inbound_message.id"), unique=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("reporter.id"), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))  # sms, partner
    receipt_ref: Mapped[str] = mapped_column(String(12), index=True)
    body: Mapped[str] = mapped_column(Text)
    # Partner-supplied location, category and time, kept for the locate and understand steps.
    hints: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
