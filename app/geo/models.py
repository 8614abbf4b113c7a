"""Gazetteer: the places reports can name."""

from __future__ import annotations

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Place(Base):
    """A named place with coordinates (WGS 84) and its administrative areas."""

    __tablename__ = "place"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Lower-case, no diacritics, single spaces: what matching compares.
    search_name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    lat: Mapped[float]
    lon: Mapped[float]
    adm1: Mapped[str | None] = mapped_column(String(120))
    adm2: Mapped[str | None] = mapped_column(String(120))
    country_code: Mapped[str | None] = mapped_column(String(2))
    source: Mapped[str] = mapped_column(String(40))  # csv file stem, geonames
    source_id: Mapped[str] = mapped_column(String(200))
