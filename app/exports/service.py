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

# Timeline lines that change what an incident's alert says: reports joining or leaving, status, priority and
# verification. Everything else (ranking, notifications, holds, verification requests…) is bookkeeping, and so is
# any kind added later until it is listed here.
NEWS_KINDS = frozenset({"report_added", "report_rejected", "merged", "split", "status", "priority", "verified"})
READ_KINDS = NEWS_KINDS | {"held"}
Line = tuple[datetime, str, dict[str, Any]]


def find(
    *, session: Session, statuses: Sequence[str] = (), since: datetime | None = None, ref: str | None = None,
    exercise: bool | None = None,
) -> list[Incident]:  # fmt: skip
    """Incidents by status, last report since `since` and drill flag (None: both), or one by ref; oldest first."""
    query = select(Incident).order_by(Incident.first_report_at, Incident.id)
    if exercise is not None:
        query = query.where(Incident.exercise == exercise)
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
    query = select(Incident.id, Incident.ref).where(Incident.id.in_(into_ids))
    refs: dict[int | None, str] = dict(session.execute(query).all()) if into_ids else {}
    return [IncidentRecord.of(i, refs.get(i.merged_into_id)) for i in incidents]


def changes(*, session: Session, incidents: Sequence[Incident]) -> dict[int, list[datetime]]:
    """Per incident id, when its timeline recorded news other systems should hear about, in order."""
    if not incidents:
        return {}
    rows = session.execute(
        select(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.kind, IncidentEvent.data)
        .where(IncidentEvent.incident_id.in_([i.id for i in incidents]), IncidentEvent.kind.in_(READ_KINDS))
        .order_by(IncidentEvent.id)
    )
    timelines: dict[int, list[Line]] = defaultdict(list)
    for incident_id, at, kind, data in rows:
        timelines[incident_id].append((at, kind, data or {}))
    return {incident_id: news(lines) for incident_id, lines in timelines.items()}


def news(timeline: Sequence[Line]) -> list[datetime]:
    """When the timeline's lines changed what the incident's alert says (pure); its opening is not among them."""
    found, held = [], False
    for at, kind, data in timeline:
        held = held or kind == "held"
        if kind not in NEWS_KINDS:
            continue
        # Escalation starts in the transaction that opens the incident, unless the alert was held for its CLA:
        # then its release is news.
        if kind == "status" and (data.get("from"), data.get("to")) == ("open", "escalated") and not held:
            continue
        if kind == "split" and "from" in data:
            continue  # the new half of a split: opened by it, so its first message is an Alert
        found.append(at)
    return found
