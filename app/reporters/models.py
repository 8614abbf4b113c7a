"""Reporters: the people who send alerts, known only by a keyed hash and an encrypted number."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class ReporterKind(StrEnum):
    villager = "villager"
    cla = "cla"  # community liaison assistant: trusted, sends short codes
    partner_member = "partner_member"


class Reporter(Base):
    """A sender of alerts; never holds a name, and the number only encrypted."""

    __tablename__ = "reporter"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Keyed hash of "phone:+E164" or "partner:<id>:<member id>": the only lookup key.
    identity_hash: Mapped[str] = mapped_column(String(64), unique=True)
    phone_encrypted: Mapped[str | None] = mapped_column(Text)
    phone_masked: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20), default=ReporterKind.villager)
    language: Mapped[str | None] = mapped_column(String(8))
    home_place: Mapped[str | None] = mapped_column(String(200))
    home_lat: Mapped[float | None]
    home_lon: Mapped[float | None]
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # How far their alerts have held up: CLAs confirm or deny; see app/verification/trust.py.
    confirmed_reports: Mapped[int] = mapped_column(default=0, server_default="0")
    false_reports: Mapped[int] = mapped_column(default=0, server_default="0")
    trust: Mapped[float | None]  # None until computed: the prior of the reporter's kind applies
