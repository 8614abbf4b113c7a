"""The road network as stored: segments imported from GeoJSON, and closures with a reason and an expiry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class RoadSegmentRow(Base):
    """One imported road line; the routing graph is rebuilt from these rows when they change."""

    __tablename__ = "road_segment"
    __table_args__ = (UniqueConstraint("key", "part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    part: Mapped[int] = mapped_column(default=0)  # the parts of a MultiLineString share its key
    name: Mapped[str | None] = mapped_column(String(200))
    road_class: Mapped[str] = mapped_column(String(32))
    speed_kmh: Mapped[float]
    coords: Mapped[list[list[float]]] = mapped_column(JSON)  # [[lat, lon], …]
    imported_at: Mapped[datetime]


class RoadClosure(Base):
    """A segment closed by an armed group, the rains or a broken ferry; open again when reopened or expired."""

    __tablename__ = "road_closure"
    __table_args__ = (
        Index("ix_road_closure_open", "segment_key", sqlite_where=text("reopened_at IS NULL"),
              postgresql_where=text("reopened_at IS NULL")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_key: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime]
    closed_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    reopened_at: Mapped[datetime | None]
    reopened_by: Mapped[str | None] = mapped_column(String(64))
