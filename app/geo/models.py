"""Gazetteer: the places reports can name, and every name each place goes by."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
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
    kind: Mapped[str] = mapped_column(String(40))  # town, village, city, camp… or a GeoNames feature code
    lat: Mapped[float]
    lon: Mapped[float]
    adm1: Mapped[str | None] = mapped_column(String(120))
    adm2: Mapped[str | None] = mapped_column(String(120))
    country_code: Mapped[str | None] = mapped_column(String(2))
    population: Mapped[int | None]
    source: Mapped[str] = mapped_column(String(40))  # csv file stem, geonames
    source_id: Mapped[str] = mapped_column(String(200))


class PlaceName(Base):
    """Another name for a place: a spelling, a local or historic name, a name without diacritics."""

    __tablename__ = "place_name"
    __table_args__ = (UniqueConstraint("place_id", "search_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(ForeignKey("place.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    search_name: Mapped[str] = mapped_column(String(200), index=True)
    language: Mapped[str | None] = mapped_column(String(8))  # ISO 639, or GeoNames' abbr/link/… markers
    kind: Mapped[str] = mapped_column(String(20), default="alternate")  # alternate, colloquial, historic, short
