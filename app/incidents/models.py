"""Reports: one per processed inbound message, the unit that later steps understand, locate and cluster."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, false, text
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
    # The gazetteer's name for it ("Ndélé region"), where location_text is what the sender wrote ("ndele").
    location_place: Mapped[str | None] = mapped_column(String(200))
    location_confidence: Mapped[float | None]
    # "13 km from Bria": the report lies on a circle of this radius around (lat, lon); see geo.locate.Location.
    ring_m: Mapped[float | None]

    # Clustering: the incident it belongs to; a same-sender repeat points at the report it repeats.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"))
    # Keyed hash of the normalised text, to spot a sender sending the same words again.
    text_digest: Mapped[str | None] = mapped_column(String(64))
    rejected_at: Mapped[datetime | None]
    # A drill message (a signed simulator field said so): it only ever joins exercise incidents.
    exercise: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Incident(Base):
    """One event in the world, as the reports about it describe it; what operators and units act on."""

    __tablename__ = "incident"
    __table_args__ = (
        # The clustering query: open incidents of recent activity, by time then place.
        Index("ix_incident_open_recent", "status", "last_report_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(12), unique=True)  # K-4821: read over SMS and voice
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(20), default="open")
    verification: Mapped[str] = mapped_column(String(20), default="unverified")
    priority: Mapped[str | None] = mapped_column(String(2))  # P1 (act now) … P4; None until prioritised
    priority_reasons: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    precision_m: Mapped[float | None]
    # Set while only "N km from Y" reports locate it: a circle around (lat, lon), not a point.
    ring_m: Mapped[float | None]
    place: Mapped[str | None] = mapped_column(String(200))
    first_report_at: Mapped[datetime]
    last_report_at: Mapped[datetime]
    # The lowest and highest death toll its reports state: early counts grow, and operators want both.
    dead_min: Mapped[int | None]
    dead_max: Mapped[int | None]
    report_count: Mapped[int] = mapped_column(default=0)
    reporter_count: Mapped[int] = mapped_column(default=0)
    confidence: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"))
    # A drill: never mixed with real incidents, and marked as such in every alert, feed event and export.
    exercise: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # An operator's priority: automatic re-prioritisation keeps it (P1 … P4; None: computed).
    priority_override: Mapped[str | None] = mapped_column(String(2))
    # Who in the operations centre is on it, and since when (a claim older than 30 minutes may be taken).
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]


class IncidentEvent(Base):
    """One line of an incident's timeline: what changed, when, and who did it."""

    __tablename__ = "incident_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    at: Mapped[datetime]
    # created, report_added, status, merged, split, report_rejected, priority, dispatched, note, claimed, released…
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))  # "system" or an operator's username
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
