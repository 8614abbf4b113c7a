"""CLAs, call-back tasks and verification answers as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Shift(BaseModel):
    """A duty shift in the deployment's time zone; days 0 (Monday) to 6."""

    days: list[int] = Field(default_factory=lambda: list(range(7)), max_length=7)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$")


class ClaIn(BaseModel):
    """A CLA to register (or update by name)."""

    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=3, max_length=32)
    area_name: str = Field(min_length=1, max_length=200)
    area_lat: float = Field(ge=-90, le=90)
    area_lon: float = Field(ge=-180, le=180)
    area_radius_km: float = Field(gt=0, le=500)
    languages: list[str] = Field(default_factory=list, max_length=8)
    schedule: list[Shift] = Field(default_factory=list, max_length=14)


class ClaOut(BaseModel):
    """A CLA, their number masked."""

    id: int
    name: str
    phone_masked: str | None
    area_name: str
    area_lat: float
    area_lon: float
    area_radius_km: float
    languages: list[str]
    schedule: list[dict[str, Any]]
    active: bool
    on_duty: bool


class CallbackOut(BaseModel):
    """A call-back task: who beeped (masked), from where, how often, and who is on it."""

    id: int
    caller: str | None
    caller_home: str | None
    caller_trust: float | None
    cla: str | None
    beeps: int
    status: str
    claimed_by: str | None
    note: str | None
    created_at: datetime
    last_beep_at: datetime


class TaskUpdate(BaseModel):
    """An optional note when claiming or closing a task."""

    note: str | None = Field(default=None, max_length=500)


class VerifyIn(BaseModel):
    """An operator's verification answer (e.g. after calling the CLA themselves)."""

    answer: Literal["confirmed", "false", "unknown"]
