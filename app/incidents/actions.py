"""The operations centre's other actions on incidents: merge, split, reject a report, set the priority, dispatch a
unit, note, claim. Each is audited and on the incident's timeline; all need the operator role."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core.clock import utcnow
from app.core.deps import RowId, SessionDep
from app.escalation import service as escalation
from app.escalation import tasks as escalation_tasks
from app.incidents import service
from app.incidents.dependencies import MISSING, REFUSED, IncidentByRef, http_error
from app.incidents.models import Incident, Report
from app.incidents.schemas import (
    ClaimIn,
    DispatchIn,
    EventOut,
    IncidentOut,
    MergeIn,
    NoteIn,
    PriorityIn,
    RejectIn,
    SplitIn,
)
from app.operators.dependencies import OperatorOnDuty
from app.operators.models import Operator
from app.units.models import Unit, UnitStatus

router = APIRouter(prefix="/api/v1", tags=["incidents"])
REPORT_MISSING = {**MISSING, 404: {"description": "No such report"}}


def _out(incident: Incident) -> IncidentOut:
    return IncidentOut.model_validate(incident, from_attributes=True)


def _audit(session: Session, operator: Operator, action: str, incident: Incident, **detail: object) -> None:
    audit.record(session=session, actor=operator.username, action=action, target=f"incident:{incident.ref}", **detail)


@router.post("/incidents/{ref}/merge", responses=REFUSED)
def merge(operator: OperatorOnDuty, incident: IncidentByRef, body: MergeIn, session: SessionDep) -> IncidentOut:
    """Fold another incident into this one: its reports move here, and it is closed as merged and stops escalating."""
    try:
        absorbed = service.get_by_ref(session=session, ref=body.absorb)
        service.merge(session=session, keep_ref=incident.ref, absorb_ref=absorbed.ref, actor=operator.username)
    except service.NotFound as exc:
        raise HTTPException(422, f"absorb: {exc}") from None  # the body names it: a bad request, not a bad path
    except service.IncidentError as exc:
        raise http_error(exc) from None
    escalation.close(session=session, incident=absorbed, state="resolved", now=utcnow())
    escalation_tasks.reprioritise(session, incident)  # more witnesses can make it more urgent
    _audit(session, operator, "incident.merge", incident, absorbed=absorbed.ref)
    return _out(incident)


@router.post("/incidents/{ref}/split", status_code=201, responses=REFUSED)
def split(operator: OperatorOnDuty, incident: IncidentByRef, body: SplitIn, session: SessionDep) -> IncidentOut:
    """Move some reports into a new incident (another event), which is prioritised and escalated; returns it."""
    try:
        new = service.split(session=session, ref=incident.ref, report_ids=body.report_ids, actor=operator.username)
    except service.IncidentError as exc:
        raise http_error(exc) from None
    escalation_tasks.reprioritise(session, incident)
    live = (Report.incident_id == new.id, Report.repeat_of_id.is_(None), Report.rejected_at.is_(None))
    first = session.scalar(select(Report).where(*live).order_by(Report.received_at))
    if first is not None:  # another event: its units must hear of it as of any new incident
        escalation_tasks.escalate(session, first)
    _audit(session, operator, "incident.split", incident, into=new.ref, reports=len(body.report_ids))
    return _out(new)


@router.post("/reports/{report_id}/reject", responses=REPORT_MISSING)
def reject_report(
    report_id: RowId, operator: OperatorOnDuty, session: SessionDep, body: RejectIn | None = None
) -> IncidentOut | None:
    """Mark a report false and re-evaluate its incident (returned, if any); left with none, it stands units down."""
    try:
        incident = service.reject_report(session=session, report_id=report_id, actor=operator.username,
                                         reason=body.reason if body else None)  # fmt: skip
    except service.IncidentError as exc:
        raise http_error(exc) from None
    if incident is not None and incident.status == "false_alarm":
        escalation.stand_down(session=session, incident=incident, config=escalation_tasks.config(), now=utcnow())
    elif incident is not None and incident.status not in service.CLOSED:
        escalation_tasks.reprioritise(session, incident)
    audit.record(session=session, actor=operator.username, action="report.reject", target=f"report:{report_id}",
                 incident=incident.ref if incident else None)  # fmt: skip
    return _out(incident) if incident is not None else None


@router.post("/incidents/{ref}/priority", responses=REFUSED)
def set_priority(
    operator: OperatorOnDuty, incident: IncidentByRef, body: PriorityIn, session: SessionDep
) -> IncidentOut:
    """Set the priority by hand: later automatic re-prioritisation keeps it; a stricter one tightens the escalation."""
    if incident.status in service.CLOSED:
        raise HTTPException(409, f"{incident.ref} is {incident.status}")
    escalation_tasks.override_priority(session, incident, body.priority, operator.username, body.reason)
    _audit(session, operator, "incident.priority", incident, priority=body.priority)
    return _out(incident)


@router.post("/incidents/{ref}/dispatch", responses=REFUSED)
def dispatch(operator: OperatorOnDuty, incident: IncidentByRef, body: DispatchIn, session: SessionDep) -> IncidentOut:
    """Alert the chosen unit now on all its channels; an acknowledged incident becomes responding."""
    unit = session.get(Unit, body.unit_id)
    if unit is None:
        raise HTTPException(422, f"unit_id: no unit {body.unit_id}")
    if incident.status in service.CLOSED or unit.status == UnitStatus.offline:
        raise HTTPException(409, f"{incident.ref} is {incident.status}, {unit.name} is {unit.status}")
    queued = escalation.dispatch(session=session, incident=incident, unit=unit, actor=operator.username,
                                 note=body.note, config=escalation_tasks.config(), now=utcnow())  # fmt: skip
    if not queued:  # raising rolls the timeline line back with everything else
        raise HTTPException(409, f"{unit.name} has no SMS, voice or webhook contact")
    _audit(session, operator, "incident.dispatch", incident, unit=unit.id)
    return _out(incident)


@router.post("/incidents/{ref}/notes", status_code=201, responses=MISSING)
def add_note(operator: OperatorOnDuty, incident: IncidentByRef, body: NoteIn, session: SessionDep) -> EventOut:
    """Write a note on the incident's timeline."""
    event = service.add_note(session=session, incident=incident, actor=operator.username, text=body.text)
    _audit(session, operator, "incident.note", incident)  # not the text: audit entries hold no free text
    return EventOut.model_validate(event, from_attributes=True)


@router.post("/incidents/{ref}/claim", responses=MISSING)
def claim(
    operator: OperatorOnDuty, incident: IncidentByRef, session: SessionDep, body: ClaimIn | None = None
) -> IncidentOut:
    """Say "I am on it"; 409 while another operator's claim is under 30 minutes old, unless `force`."""
    force = bool(body and body.force)
    try:
        service.claim(session=session, incident=incident, actor=operator.username, force=force)
    except service.IncidentError as exc:
        raise http_error(exc) from None
    _audit(session, operator, "incident.claim", incident, force=force)
    return _out(incident)


@router.delete("/incidents/{ref}/claim", responses=MISSING)
def release(operator: OperatorOnDuty, incident: IncidentByRef, session: SessionDep) -> IncidentOut:
    """Take the claim off the incident (anyone's: a claim coordinates, it does not lock)."""
    service.release(session=session, incident=incident, actor=operator.username)
    _audit(session, operator, "incident.release", incident)
    return _out(incident)
