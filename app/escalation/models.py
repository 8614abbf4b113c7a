"""Escalations and their timers: which level of the policy an incident is at, and when the next step is due."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Escalation(Base):
    """One incident's way up the policy: units told so far, the current level, and who acknowledged."""

    __tablename__ = "escalation"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), unique=True)
    priority: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(16), default="active")  # active, acknowledged, stood_down, resolved
    level: Mapped[int] = mapped_column(default=0)  # index into the policy's levels for this priority
    round: Mapped[int] = mapped_column(default=0)  # repeats done at this level
    # The ranking when it started: [{"unit_id", "name", "eta_s", "explanation"}], best first.
    ranking: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    notified_unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    current_unit_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # the level being waited on
    acknowledged_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Timer(Base):
    """Something due at a time (an acknowledgement deadline); survives restarts and fires once on any worker."""

    __tablename__ = "timer"
    __table_args__ = (
        Index("ix_timer_due", "due_at", sqlite_where=text("fired_at IS NULL AND canceled_at IS NULL"),
              postgresql_where=text("fired_at IS NULL AND canceled_at IS NULL")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    # "escalation:12:level:1:round:0": arming the same deadline twice is a no-op.
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(index=True)
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    canceled_at: Mapped[datetime | None]
