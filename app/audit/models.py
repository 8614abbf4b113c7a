"""The audit log: every operator action and every reveal of personal data, append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class AuditEntry(Base):
    """Who did what to which thing, when; never the personal data itself."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))  # e.g. unit.update, incident.acknowledge, reporter.reveal
    target: Mapped[str | None] = mapped_column(String(100))  # "incident:K-4821", "unit:7"
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
