"""Incidents as the API shows them: public facts, reports with masked reporters, the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.db import MAX_ROW_ID

Priority = Literal["P1", "P2", "P3", "P4"]


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
    exercise: bool = Field(False, description="a drill: never mixed with real incidents")
    priority_override: str | None = Field(None, description="the priority an operator set; kept by re-prioritisation")
    claimed_by: str | None = Field(None, description="the operator on it (a claim older than 30 minutes is stale)")
    claimed_at: datetime | None = None


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


class _Strict(BaseModel):
    """A request body that refuses fields it does not know (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class MergeIn(_Strict):
    """The incident to fold into this one (its reports move here, it is closed as merged)."""

    absorb: str = Field(min_length=5, max_length=20, pattern=r"^[Kk]-?[0-9]{4,6}$", examples=["K-4821"])

    @field_validator("absorb")
    @classmethod
    def _canonical(cls, ref: str) -> str:
        return "K-" + ref[1:].lstrip("-")  # "k4821", as typed from an SMS, is K-4821


class SplitIn(_Strict):
    """The reports that are about another event: they become a new incident."""

    report_ids: list[Annotated[int, Field(ge=1, le=MAX_ROW_ID)]] = Field(min_length=1, max_length=500)


class RejectIn(_Strict):
    """Why the report is false (a decoy, a joke, a misunderstanding)."""

    reason: str | None = Field(default=None, max_length=500)


class PriorityIn(_Strict):
    """An operator's priority, with the reason for the timeline."""

    priority: Priority
    reason: str = Field(min_length=1, max_length=500)


class DispatchIn(_Strict):
    """The unit to alert now, on all its channels."""

    unit_id: int = Field(ge=1, le=MAX_ROW_ID)
    note: str | None = Field(default=None, max_length=500)


class NoteIn(_Strict):
    """An operator's note for the timeline."""

    text: str = Field(min_length=1, max_length=2000)


class ClaimIn(_Strict):
    """`force`: take the incident over from another operator's live claim."""

    force: bool = False


class ReporterOut(BaseModel):
    """A reporter as operators may see one: masked, with their record; the number is a separate, audited call."""

    id: int
    phone_masked: str | None
    kind: str
    language: str | None
    home_place: str | None
    trust: float = Field(description="share of the sender's alerts expected to hold up (0-1)")
    confirmed_reports: int
    false_reports: int
    last_seen_at: datetime


class ReporterPage(BaseModel):
    """A page of reporters, most recently seen first; `next_offset` is None on the last page."""

    items: list[ReporterOut]
    next_offset: int | None
