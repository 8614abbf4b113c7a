"""Reads for the exports: incidents as public records, and the times their CAP thread changed. Reads only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.exports.facts import IncidentRecord
from app.incidents.models import Incident, IncidentEvent

# Timeline lines that are bookkeeping rather than news about the incident: they start no new CAP message.
QUIET_KINDS = frozenset({"created", "escalation_started", "notified"})


def find(
    *, session: Session, statuses: Sequence[str] = (), since: datetime | None = None, ref: str | None = None
) -> list[Incident]:
    """Incidents in these statuses with a report since `since`, or the one with this reference; oldest first."""
    query = select(Incident).order_by(Incident.first_report_at, Incident.id)
    if ref is not None:
        query = query.where(Incident.ref == ref.upper())
    if statuses:
        query = query.where(Incident.status.in_(statuses))
    if since is not None:
        query = query.where(Incident.last_report_at >= since)
    return list(session.scalars(query))


def records(*, session: Session, incidents: Sequence[Incident]) -> list[IncidentRecord]:
    """The public record of each incident, with the reference a merged one went into."""
    into_ids = {i.merged_into_id for i in incidents if i.merged_into_id is not None}
    refs: dict[int | None, str] = {}
    if into_ids:
        refs.update(session.execute(select(Incident.id, Incident.ref).where(Incident.id.in_(into_ids))).tuples())
    return [IncidentRecord.of(i, refs.get(i.merged_into_id)) for i in incidents]


def changes(*, session: Session, incidents: Sequence[Incident]) -> dict[int, list[datetime]]:
    """Per incident id, when its timeline recorded a change other systems should hear about, in order."""
    if not incidents:
        return {}
    rows = session.execute(
        select(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.kind, IncidentEvent.data)
        .where(IncidentEvent.incident_id.in_([i.id for i in incidents]), IncidentEvent.kind.not_in(QUIET_KINDS))
        .order_by(IncidentEvent.id)
    )
    found: dict[int, list[datetime]] = defaultdict(list)
    for incident_id, at, kind, data in rows:
        if is_change(kind, data or {}):
            found[incident_id].append(at)
    return found


def is_change(kind: str, data: dict[str, Any]) -> bool:
    """Whether a timeline line changes what the incident's alert says (pure)."""
    if kind in QUIET_KINDS:
        return False
    if kind == "status" and (data.get("from"), data.get("to")) == ("open", "escalated"):
        return False  # escalation starting, in the transaction that opened the incident
    # The new half of a split is opened by it: its first message is an Alert, not an Update.
    return not (kind == "split" and "from" in data)
