"""The feed's durable log: one row per published change, its id the position a client resumes from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class FeedEventRow(Base):
    """One committed change as the live feed sends it (`id:` of the server-sent event); no personal data."""

    __tablename__ = "feed_event"
    # AUTOINCREMENT on SQLite: ids are never reused, so a client's Last-Event-ID never points at another event.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))  # incident.created, incident.status, …
    ref: Mapped[str] = mapped_column(String(20))  # the incident's K- reference
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
