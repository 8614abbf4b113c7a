"""Retention runs: when personal data was last purged, by whom, and how much (counts only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base


class RetentionRun(Base):
    """One purge (or dry run); the worker's schedule is the time of the last real one."""

    __tablename__ = "retention_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    trigger: Mapped[str] = mapped_column(String(20))  # cli, worker
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
