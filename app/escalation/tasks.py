"""Escalation in the worker: the pipeline steps that start it and take ACK/POS replies, and the timer loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.clock import utcnow
from app.core.config import get_settings
from app.core.db import transaction
from app.escalation import service
from app.escalation.models import Escalation
from app.incidents import service as incidents
from app.incidents.models import Incident, Report
from app.protection import service as protection
from app.reporters.models import Reporter
from app.units import service as units

logger = logging.getLogger(__name__)
PRIORITY_ORDER = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}


@lru_cache
def config() -> service.EscalationConfig:
    """The escalation settings of this process, read once."""
    settings = get_settings()
    path = str(settings.escalation_policy_file) if settings.escalation_policy_file else None
    return service.EscalationConfig(
        policy=service.default_policy(path), language=settings.default_language,
        alert_sms_validity_s=settings.alert_sms_validity_seconds, detour_factor=settings.detour_factor,
    )  # fmt: skip


def escalate(session: Session, report: Report) -> None:
    """Pipeline step: prioritise the report's incident, start its escalation, or raise its priority."""
    if report.incident_id is None or report.repeat_of_id is not None:
        return
    incident = session.get(Incident, report.incident_id)
    if incident is None or incident.status in incidents.CLOSED:
        return
    priority, reasons = protection.prioritise(session=session, incident=incident)
    before = incident.priority
    incident.priority, incident.priority_reasons = priority, list(reasons)
    escalation = session.scalar(select(Escalation).where(Escalation.incident_id == incident.id))
    if escalation is None:
        service.start(session=session, incident=incident, config=config(), priority=priority, now=utcnow())
    elif PRIORITY_ORDER[priority] < PRIORITY_ORDER.get(escalation.priority, 9) and escalation.state == "active":
        escalation.priority = priority  # later levels follow the stricter policy
    if before is not None and before != priority:
        incidents.record(session=session, incident=incident, kind="priority", actor=incidents.SYSTEM,
                         data={"from": before, "to": priority, "reasons": list(reasons)})  # fmt: skip


def reply_codes(session: Session, report: Report) -> None:
    """Pipeline step: ACK K-4821 and POS lat lon from a unit's registered number; others are ignored and logged."""
    command = (report.details or {}).get("command")
    if not command or command.get("code") not in ("ACK", "POS"):
        return
    reporter = session.get(Reporter, report.reporter_id) if report.reporter_id is not None else None
    unit = units.unit_by_identity(session=session, identity_hash=reporter.identity_hash) if reporter else None
    if unit is None:
        logger.warning("report %s: %s from a number that is no unit's; ignored", report.id, command["code"])
        return
    if command["code"] == "POS" and command.get("lat") is not None:
        units.update_position(session=session, unit=unit, lat=command["lat"], lon=command["lon"])
        return
    incident = session.scalar(select(Incident).where(Incident.ref == (command.get("ref") or "").upper()))
    if incident is None:
        logger.warning("report %s: ACK for an unknown incident reference", report.id)
        return
    service.acknowledge(session=session, incident=incident, actor=unit.name, via="sms", unit=unit, now=utcnow())


def fire_due(*, factory: sessionmaker[Session], batch_size: int = 20, clock: Callable[[], datetime] = utcnow) -> int:
    """Fire due escalation deadlines, each exactly once; returns how many fired."""
    with transaction(factory) as session:
        timers = service.claim_due_timers(session=session, now=clock(), limit=batch_size)
        for timer in timers:
            service.on_timeout(session=session, timer=timer, config=config(), now=clock())
    return len(timers)
