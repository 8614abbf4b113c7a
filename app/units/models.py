"""Units: the bases, patrols and police units an incident can be routed to, and how to reach them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, event, inspect
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import utcnow
from app.core.db import Base


class UnitKind(StrEnum):
    joc = "joc"  # joint operations centre: the last level of every escalation
    sector_hq = "sector_hq"
    company_base = "company_base"
    temporary_base = "temporary_base"
    patrol = "patrol"
    police = "police"


class UnitStatus(StrEnum):
    available = "available"
    committed = "committed"
    offline = "offline"


class Mobility(StrEnum):
    foot = "foot"
    vehicle = "vehicle"
    boat = "boat"
    helicopter = "helicopter"


class Unit(Base):
    """A unit that can be told of an incident; its position moves when it is a patrol."""

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    sector: Mapped[str | None] = mapped_column(String(50), index=True)
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)  # qrf, fpu, fet, medevac, engineers
    mobility: Mapped[str] = mapped_column(String(12), default=Mobility.vehicle)
    speed_kmh: Mapped[float | None]  # None: the mobility's usual speed
    status: Mapped[str] = mapped_column(String(12), default=UnitStatus.available)
    lat: Mapped[float]
    lon: Mapped[float]
    place: Mapped[str | None] = mapped_column(String(200))
    position_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UnitContact(Base):
    """One way to reach a unit: an SMS or voice number, or a webhook; addresses and secrets stored encrypted."""

    __tablename__ = "unit_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(12))  # sms, voice, webhook
    address_encrypted: Mapped[str] = mapped_column(Text)
    address_masked: Mapped[str] = mapped_column(String(64))
    # Keyed hash of the number: an ACK or POS SMS from it identifies the unit.
    lookup_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)  # webhook signing secret
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@event.listens_for(Unit, "before_update")
def _touch(_mapper: Any, _connection: Any, unit: Unit) -> None:
    """Any change (a status set by an operator, say) moves updated_at: routing's unit cache keys on it."""
    if not inspect(unit).attrs.updated_at.history.has_changes():  # the caller's own time stands
        unit.updated_at = utcnow()
