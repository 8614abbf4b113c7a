"""Operator warnings as the API shows them: the pattern, its counts and place; a flooding number only masked."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class WarningOut(BaseModel):
    """One warning: what pattern, where, how much, since when, and whether someone has seen it."""

    id: int
    kind: str = Field(description="sender_flood (one number sends too much) or unknown_burst (possible decoy)")
    incident_ref: str | None
    reporter_id: int | None
    reporter: str | None = Field(description="the flooding number, masked")
    lat: float | None
    lon: float | None
    message_count: int
    sender_count: int
    first_at: datetime
    last_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    exercise: bool
