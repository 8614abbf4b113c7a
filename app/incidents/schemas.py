"""Incidents as the API shows them: public facts, reports with masked reporters, the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class IncidentOut(BaseModel):
    """An incident in the list."""

    ref: str
    status: str
    priority: str | None
    priority_reasons: list[str]
    category: str
    severity: str
    verification: str
    lat: float | None
    lon: float | None
    precision_m: float | None
    ring_m: float | None
    place: str | None
    dead_min: int | None
    dead_max: int | None
    first_report_at: datetime
    last_report_at: datetime
    report_count: int
    reporter_count: int
    confidence: float


class ReportOut(BaseModel):
    """A report of an incident: the text as sent (render it as text), the reporter masked."""

    id: int
    received_at: datetime
    channel: str
    reporter: str | None = Field(description="masked number or partner member; reveal is a separate, audited call")
    reporter_kind: str | None
    reporter_trust: float | None = Field(description="share of the sender's alerts expected to hold up (0-1)")
    language: str | None
    category: str | None
    severity: str | None
    body: str
    location_method: str | None
    location_text: str | None
    precision_m: float | None
    repeat: bool
    rejected: bool


class EventOut(BaseModel):
    """A line of the incident's timeline."""

    at: datetime
    kind: str
    actor: str
    data: dict[str, Any]


class EscalationOut(BaseModel):
    """Where the escalation is: level, who was told, who acknowledged, and the ranking it started from."""

    state: str
    priority: str
    level: int
    round: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    ranking: list[dict[str, Any]]


class IncidentDetail(IncidentOut):
    """An incident with its reports, timeline and escalation."""

    reports: list[ReportOut]
    timeline: list[EventOut]
    escalation: EscalationOut | None


class IncidentPage(BaseModel):
    """A page of incidents, most urgent first; `next_offset` is None on the last page."""

    items: list[IncidentOut]
    next_offset: int | None


class Note(BaseModel):
    """An optional note for the timeline."""

    note: str | None = Field(default=None, max_length=500)
