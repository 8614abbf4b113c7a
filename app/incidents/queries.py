"""Read-side views of incidents for the CLI, exports and (later) the API: public facts only."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.incidents.models import Incident, Report
from app.intake.models import InboundMessage


def incident_summaries(*, session: Session, status: str | None = None) -> list[dict[str, Any]]:
    """Every incident (merged ones excluded unless asked for), with the provider ids of its reports."""
    query = select(Incident).order_by(Incident.first_report_at, Incident.id)
    query = query.where(Incident.status == status) if status else query.where(Incident.status != "merged")
    incidents = list(session.scalars(query))
    ids = [i.id for i in incidents]
    message_ids: dict[int, list[str]] = defaultdict(list)
    if ids:
        rows = session.execute(
            select(Report.incident_id, InboundMessage.external_id)
            .join(InboundMessage, InboundMessage.id == Report.inbound_message_id)
            .where(Report.incident_id.in_(ids))
            .order_by(Report.received_at)
        )
        for incident_id, external_id in rows:
            message_ids[incident_id].append(external_id)
    return [_summary(i, message_ids[i.id]) for i in incidents]


def _summary(incident: Incident, message_ids: list[str]) -> dict[str, Any]:
    return {
        "ref": incident.ref,
        "status": incident.status,
        "category": incident.category,
        "severity": incident.severity,
        "verification": incident.verification,
        "lat": incident.lat,
        "lon": incident.lon,
        "precision_m": incident.precision_m,
        "ring_m": incident.ring_m,
        "place": incident.place,
        "first_report_at": incident.first_report_at.isoformat(),
        "last_report_at": incident.last_report_at.isoformat(),
        "dead_min": incident.dead_min,
        "dead_max": incident.dead_max,
        "report_count": incident.report_count,
        "reporter_count": incident.reporter_count,
        "confidence": incident.confidence,
        "exercise": incident.exercise,
        "message_ids": message_ids,
    }
