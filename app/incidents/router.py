"""Incidents through the API: the list (filtered, paged), one incident in full, acknowledge and resolve; the router
app.main mounts also carries the other operator actions (app/incidents/actions.py) and the reporters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import case, select

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.deps import SessionDep
from app.core.errors import invalid
from app.escalation import service as escalation
from app.escalation.models import Escalation
from app.incidents import actions, reporter_routes, service
from app.incidents.dependencies import FORBIDDEN, MISSING
from app.incidents.models import Incident, IncidentEvent, Report
from app.incidents.schemas import EscalationOut, EventOut, IncidentDetail, IncidentOut, IncidentPage, Note, ReportOut
from app.operators.dependencies import OperatorOnDuty, Viewer
from app.reporters.models import Reporter
from app.verification import trust as trust_rules

incidents_api = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
Status = Literal["open", "escalated", "acknowledged", "responding", "resolved", "false_alarm", "merged"]
# Unprioritised incidents sort after P4; within a priority, the latest news first.
_URGENCY = case((Incident.priority.is_(None), "P9"), else_=Incident.priority)


@incidents_api.get("", responses=FORBIDDEN)
def list_incidents(
    _: Viewer, session: SessionDep,
    status: Annotated[list[Status] | None, Query(description="any of these statuses; default: every open one")] = None,
    priority: Annotated[list[Literal["P1", "P2", "P3", "P4"]] | None, Query()] = None,
    category: Annotated[list[str] | None, Query(max_length=20)] = None,
    since: Annotated[datetime | None, Query(description="last report at or after this time")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat", max_length=100)] = None,
    exercise: Annotated[bool | None, Query(description="true: drills only; false: real only; default both")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> IncidentPage:  # fmt: skip
    """Incidents, most urgent first (priority, then latest report)."""
    query = select(Incident).where(Incident.status.in_(status or service.ACTIVE))
    if priority:
        query = query.where(Incident.priority.in_(priority))
    if category:
        query = query.where(Incident.category.in_(category))
    if since:
        query = query.where(Incident.last_report_at >= since)
    if exercise is not None:
        query = query.where(Incident.exercise == exercise)
    if bbox:
        west, south, east, north = _bbox(bbox)
        query = query.where(Incident.lon.between(west, east), Incident.lat.between(south, north))
    rows = list(session.scalars(
        query.order_by(_URGENCY, Incident.last_report_at.desc(), Incident.id).offset(offset).limit(limit + 1)
    ))  # fmt: skip
    items = [IncidentOut.model_validate(i, from_attributes=True) for i in rows[:limit]]
    return IncidentPage(items=items, next_offset=offset + limit if len(rows) > limit else None)


def _bbox(text: str) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise invalid(("query", "bbox"), "bbox: four numbers, min_lon,min_lat,max_lon,max_lat") from None
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise invalid(("query", "bbox"), "bbox: min_lon <= max_lon within ±180, min_lat <= max_lat within ±90")
    return west, south, east, north


@incidents_api.get("/{ref}", responses=MISSING)
def incident_detail(ref: str, _: Viewer, session: SessionDep) -> IncidentDetail:
    """One incident with its reports (reporters masked), timeline and escalation."""
    incident = _get(session, ref)
    rows = session.execute(
        select(Report, Reporter)
        .outerjoin(Reporter, Reporter.id == Report.reporter_id)
        .where(Report.incident_id == incident.id)
        .order_by(Report.received_at)
    ).all()
    reports = [
        ReportOut(id=r.id, received_at=r.received_at, channel=r.channel, reporter=who.phone_masked if who else None,
                  reporter_kind=who.kind if who else None, reporter_trust=_trust(who), language=r.language,
                  category=r.category, severity=r.severity, body=r.body, location_method=r.location_method,
                  location_text=r.location_text, precision_m=r.precision_m, repeat=r.repeat_of_id is not None,
                  rejected=r.rejected_at is not None)
        for r, who in rows
    ]  # fmt: skip
    timeline = [EventOut.model_validate(e, from_attributes=True) for e in session.scalars(
        select(IncidentEvent).where(IncidentEvent.incident_id == incident.id).order_by(IncidentEvent.id))]  # fmt: skip
    esc = session.scalar(select(Escalation).where(Escalation.incident_id == incident.id))
    return IncidentDetail(
        **IncidentOut.model_validate(incident, from_attributes=True).model_dump(), reports=reports, timeline=timeline,
        escalation=EscalationOut.model_validate(esc, from_attributes=True) if esc else None,
    )  # fmt: skip


@incidents_api.post("/{ref}/acknowledge", responses=MISSING)
def acknowledge(ref: str, operator: OperatorOnDuty, session: SessionDep, body: Note | None = None) -> IncidentOut:
    """Acknowledge for the operations centre: the escalation stops and the reporters are told."""
    incident = _get(session, ref)
    if incident.status not in ("open", "escalated"):
        raise HTTPException(409, f"{incident.ref} is {incident.status}")
    escalation.acknowledge(session=session, incident=incident, actor=operator.username, via="api", unit=None,
                           now=utcnow())  # fmt: skip
    audit.record(session=session, actor=operator.username, action="incident.acknowledge",
                 target=f"incident:{incident.ref}", note=(body.note if body else None))  # fmt: skip
    return IncidentOut.model_validate(incident, from_attributes=True)


@incidents_api.post("/{ref}/resolve", responses=MISSING)
def resolve(ref: str, operator: OperatorOnDuty, session: SessionDep, body: Note | None = None) -> IncidentOut:
    """Close the incident as resolved: its escalation stops for good."""
    incident = _get(session, ref)
    try:
        service.set_status(session=session, ref=incident.ref, status="resolved", actor=operator.username,
                           note=body.note if body else None)  # fmt: skip
    except service.IncidentError as exc:
        raise HTTPException(409, str(exc)) from None
    escalation.close(session=session, incident=incident, state="resolved", now=utcnow())
    audit.record(session=session, actor=operator.username, action="incident.resolve", target=f"incident:{incident.ref}")
    return IncidentOut.model_validate(incident, from_attributes=True)


def _trust(reporter: Reporter | None) -> float | None:
    if reporter is None:
        return None
    return reporter.trust if reporter.trust is not None else trust_rules.trust(reporter.kind, 0, 0)


def _get(session, ref: str) -> Incident:
    incident = session.scalar(select(Incident).where(Incident.ref == ref.upper()))
    if incident is None:
        raise HTTPException(404, "no such incident")  # not echoed: it may be a number typed in the wrong box
    return incident


# What app.main mounts: the incidents, the other operator actions (some under /api/v1/reports) and the reporters.
router = APIRouter()
for _part in (incidents_api, actions.router, reporter_routes.router):
    router.include_router(_part)
