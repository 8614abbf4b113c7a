"""CLAs, the call-back queue for missed calls, and the verification of incidents by the CLA responsible."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class Cla(Base):
    """A community liaison assistant: the area they answer for, their languages and when they are on duty."""

    __tablename__ = "cla"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # Their phone is a reporter identity (they send short codes too): number encrypted there, never here.
    reporter_id: Mapped[int] = mapped_column(ForeignKey("reporter.id"), unique=True)
    area_name: Mapped[str] = mapped_column(String(200))
    area_lat: Mapped[float]
    area_lon: Mapped[float]
    area_radius_km: Mapped[float]
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"days": [0..6], "start": "07:00", "end": "19:00"}] in the deployment's local time; empty: always on duty.
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class CallbackTask(Base):
    """Someone beeped (a missed call): a CLA should call them back. Repeated beeps fold into one open task."""

    __tablename__ = "callback_task"
    __table_args__ = (
        Index("ix_callback_task_open", "reporter_id", sqlite_where=text("status IN ('open', 'claimed')"),
              postgresql_where=text("status IN ('open', 'claimed')")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("reporter.id"))
    cla_id: Mapped[int | None] = mapped_column(ForeignKey("cla.id"), index=True)
    first_report_id: Mapped[int] = mapped_column(ForeignKey("report.id"))
    beeps: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open, claimed, done, unreachable
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    last_beep_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class VerificationRequest(Base):
    """An incident put to the responsible CLA: call and SMS out, an answer (or none) back."""

    __tablename__ = "verification_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), unique=True)
    cla_id: Mapped[int | None] = mapped_column(ForeignKey("cla.id"))
    reason: Mapped[str] = mapped_column(String(200))  # why it needs verifying (shown to operators)
    held: Mapped[bool] = mapped_column(default=False)  # escalation waits for the answer (distrusted sender)
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending, confirmed, false, unknown
    answered_by: Mapped[str | None] = mapped_column(String(100))
    answered_via: Mapped[str | None] = mapped_column(String(12))  # voice, sms, api
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
