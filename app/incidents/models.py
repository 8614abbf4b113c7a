"""Reports: one per processed inbound message, the unit that later steps understand, locate and cluster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, text
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

    # What the understanding step made of the text (None until it ran).
    language: Mapped[str | None] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(32))
    severity: Mapped[str | None] = mapped_column(String(12))  # CAP: extreme, severe, moderate, minor, unknown
    # Counts, weapons, secondary categories, negation, short code or command: see understanding.schemas.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    understood_at: Mapped[datetime | None]

    # Where it happened, with an honest precision; method "unlocated" leaves the coordinates empty.
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    precision_m: Mapped[float | None]
    location_method: Mapped[str | None] = mapped_column(String(20))
    location_place_id: Mapped[int | None] = mapped_column(ForeignKey("place.id", ondelete="SET NULL"))
    location_text: Mapped[str | None] = mapped_column(String(200))
    location_confidence: Mapped[float | None]
