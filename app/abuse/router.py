"""Operator warnings through the API: list them (viewers) and mark them seen (operators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from sqlalchemy import select

from app.abuse import service
from app.abuse.models import OperatorWarning
from app.abuse.schemas import WarningOut
from app.audit import service as audit
from app.core.deps import RowId, SessionDep
from app.incidents.models import Incident
from app.operators.dependencies import OperatorOnDuty, Viewer
from app.reporters.models import Reporter

router = APIRouter(prefix="/api/v1/warnings", tags=["warnings"])
FORBIDDEN = {401: {"description": "No, or no live, bearer token"}, 403: {"description": "Role too low"}}


def _out(session: SessionDep, warning: OperatorWarning) -> WarningOut:
    incident = session.get(Incident, warning.incident_id) if warning.incident_id else None
    reporter = session.get(Reporter, warning.reporter_id) if warning.reporter_id else None
    return WarningOut(
        id=warning.id, kind=warning.kind, incident_ref=incident.ref if incident else None,
        reporter_id=warning.reporter_id, reporter=reporter.phone_masked if reporter else None, lat=warning.lat,
        lon=warning.lon, message_count=warning.message_count, sender_count=warning.sender_count,
        first_at=warning.first_at, last_at=warning.last_at, acknowledged_at=warning.acknowledged_at,
        acknowledged_by=warning.acknowledged_by, exercise=warning.exercise,
    )  # fmt: skip


@router.get("", responses=FORBIDDEN)
def list_warnings(
    _: Viewer, session: SessionDep, unacknowledged: bool = False, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[WarningOut]:
    """Warnings, newest activity first; `unacknowledged` keeps those nobody has marked seen."""
    query = select(OperatorWarning).order_by(OperatorWarning.last_at.desc(), OperatorWarning.id.desc()).limit(limit)
    if unacknowledged:
        query = query.where(OperatorWarning.acknowledged_at.is_(None))
    return [_out(session, w) for w in session.scalars(query)]


@router.post("/{warning_id}/acknowledge", responses={**FORBIDDEN, 404: {"description": "No such warning"}})
def acknowledge_warning(warning_id: RowId, operator: OperatorOnDuty, session: SessionDep) -> WarningOut:
    """Mark a warning seen; it keeps counting while the pattern lasts."""
    warning = session.get(OperatorWarning, warning_id)
    if warning is None:
        raise HTTPException(404, f"no warning {warning_id}")
    service.acknowledge(session, warning, operator.username)
    audit.record(session=session, actor=operator.username, action="warning.acknowledge", target=f"warning:{warning_id}")
    return _out(session, warning)
