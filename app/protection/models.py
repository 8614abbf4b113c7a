"""The protection matrix as stored: zones classed must / should / could protect, and vulnerable sites."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class ProtectionZone(Base):
    """A polygon of the mission's protection-of-civilians matrix (GeoJSON geometry kept as imported)."""

    __tablename__ = "protection_zone"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    protection: Mapped[str] = mapped_column(String(8))  # must, should, could
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class VulnerableSite(Base):
    """A place whose people are most at risk: an IDP camp, a market, a school."""

    __tablename__ = "vulnerable_site"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float]
    lon: Mapped[float]
    radius_m: Mapped[float]
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a polygon site's outline
    updated_at: Mapped[datetime]
