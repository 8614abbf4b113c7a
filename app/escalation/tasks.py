"""Escalation in the worker: the pipeline steps that start it and take ACK/POS replies, and the timer loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.abuse import service as abuse
from app.abuse.models import WarningKind
from app.core.clock import utcnow
from app.core.config import get_settings
from app.core.db import transaction
from app.escalation import service
from app.escalation.models import Escalation, Timer
from app.incidents import service as incidents
from app.incidents.models import Incident, Report
from app.protection import service as protection
from app.reporters.models import Reporter
from app.units import service as units
from app.verification import service as verification
from app.verification import trust as trust_rules

logger = logging.getLogger(__name__)
HOLD = "verification_hold"


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
    """Pipeline step: prioritise the report's incident, put it to a CLA if it needs one, and escalate it."""
    if report.incident_id is None or report.repeat_of_id is not None:
        return
    incident = session.get(Incident, report.incident_id)
    if incident is None or incident.status in incidents.CLOSED:
        return
    escalation = service.escalation_of(session, incident)
    _reprioritise(session, incident, escalation)
    settings = get_settings()
    kinds = verification.reporter_kinds(session=session, incident=incident)
    if "cla" in kinds and incident.verification != "false":
        incident.verification = "confirmed"  # a CLA's own report is a verified source
    decision = trust_rules.decide(
        kinds=kinds,
        distrusted_false=verification.distrusted_false(session=session, incident=incident),
        severity=incident.severity, verification=incident.verification,
    )  # fmt: skip
    now = utcnow()
    if decision.verify:
        verification.request(session=session, incident=incident, decision=decision, now=now,
                             timezone=settings.timezone, language=settings.default_language)  # fmt: skip
    escalating = escalation is not None
    if not escalating and (report.details or {}).get("flood") and incident.severity not in trust_rules.SEVERE:
        # A flooding number's own incident waits for a CLA (or the hold's deadline); the flood never pages units.
        abuse.flag(session, incident, WarningKind.sender_flood)
        reason = "held for confirmation: one number is flooding"
        hold(session, incident, reason, now, settings.verification_hold_minutes)
    elif decision.hold and not escalating:
        hold(session, incident, decision.reason, now, settings.verification_hold_minutes)
    elif not escalating:
        service.begin(session=session, incident=incident, config=config(), priority=incident.priority, now=now)


def reprioritise(session: Session, incident: Incident, actor: str = incidents.SYSTEM, note: str | None = None) -> str:
    """Recompute the priority (an operator's override stands), tighten the escalation, put changes on the timeline."""
    return _reprioritise(session, incident, service.escalation_of(session, incident), actor, note)


def _reprioritise(
    session: Session, incident: Incident, escalation: Escalation | None, actor: str = incidents.SYSTEM,
    note: str | None = None,
) -> str:  # fmt: skip
    """reprioritise, with the incident's escalation already looked up (None: it has none)."""
    priority, reasons = protection.prioritise(session=session, incident=incident)
    if incident.priority_override:
        reasons = [f"set by an operator (computed: {priority})", *reasons]
        priority = incident.priority_override
    before = incident.priority
    incident.priority, incident.priority_reasons = priority, list(reasons)
    if escalation is not None:
        service.tighten(session=session, escalation=escalation, priority=priority, config=config(), now=utcnow())
    if (before is not None and before != priority) or note is not None:
        data = {"from": before, "to": priority, "reasons": list(reasons)} | ({"reason": note} if note else {})
        incidents.record(session=session, incident=incident, kind="priority", actor=actor, data=data)
    return priority


def override_priority(session: Session, incident: Incident, priority: str, actor: str, reason: str) -> str:
    """An operator sets the priority: later automatic re-prioritisations keep it, a stricter one tightens now."""
    incident.priority_override = priority
    return reprioritise(session, incident, actor=actor, note=reason)


def hold(session: Session, incident: Incident, reason: str, now: datetime, minutes: float) -> None:
    """Escalation waits for the CLA, but never for ever: a deadline escalates it anyway, marked unverified."""
    key = f"hold:{incident.id}"
    if session.scalar(select(Timer.id).where(Timer.key == key)) is None:
        session.add(Timer(key=key, kind=HOLD, subject_id=incident.id,
                          due_at=verification.hold_expires(now, minutes)))  # fmt: skip
        incidents.record(session=session, incident=incident, kind="held", actor=incidents.SYSTEM,
                         data={"reason": reason, "minutes": minutes})  # fmt: skip


def apply_answer(session: Session, incident: Incident, answer: str, actor: str, via: str) -> bool:
    """A CLA's (or an operator's) answer: a false alarm stands units down; a confirmation escalates a held alert."""
    now = utcnow()
    # A drill proves nothing about a sender, whatever the answer: their trust stays as it was.
    answered = verification.record_answer(session=session, incident=incident, answer=answer, actor=actor, via=via,
                                          now=now, count_trust=not incident.exercise)  # fmt: skip
    if not answered:
        return False
    if answer == "false":
        if incident.status not in incidents.CLOSED:
            incidents.set_status(session=session, ref=incident.ref, status="false_alarm", actor=actor,
                                 note=f"denied by {actor} via {via}")  # fmt: skip
        service.stand_down(session=session, incident=incident, config=config(), now=now)
    elif answer == "confirmed" and incident.status not in incidents.CLOSED:
        priority = reprioritise(session, incident)
        if session.scalar(select(Escalation).where(Escalation.incident_id == incident.id)) is None:
            service.start(session=session, incident=incident, config=config(), priority=priority, now=now)
    return True


def reply_codes(session: Session, report: Report) -> None:
    """Pipeline step: ACK K-4821 and POS lat lon from a unit's registered number; others are ignored and logged."""
    command = (report.details or {}).get("command")
    if not command or command.get("code") not in ("ACK", "POS", "CONFIRM", "FALSE"):
        return
    if command["code"] in ("CONFIRM", "FALSE"):
        _cla_answer(session, report, command)
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


def _cla_answer(session: Session, report: Report, command: dict) -> None:
    """CONFIRM K-4821 / FALSE K-4821 from a CLA's number; from anyone else it changes nothing."""
    cla = verification.cla_for_reporter(session=session, reporter_id=report.reporter_id)
    incident = session.scalar(select(Incident).where(Incident.ref == (command.get("ref") or "").upper()))
    if cla is None or incident is None:
        logger.warning("report %s: %s from a non-CLA or for an unknown incident; ignored", report.id, command["code"])
        return
    answer = "confirmed" if command["code"] == "CONFIRM" else "false"
    apply_answer(session, incident, answer, actor=f"cla:{cla.name}", via="sms")


def beeps(session: Session, report: Report) -> None:
    """Pipeline step: a missed call (a beep) becomes, or joins, a call-back task for the CLA on duty."""
    if report.channel != "voice":
        return
    settings = get_settings()
    vault = session.info["vault"]  # put there by the worker: the CLA must be sent the caller's number
    verification.record_beep(session=session, vault=vault, report=report, now=utcnow(), timezone=settings.timezone,
                             language=settings.default_language)  # fmt: skip


def fire_due(*, factory: sessionmaker[Session], batch_size: int = 20, clock: Callable[[], datetime] = utcnow) -> int:
    """Fire due escalation deadlines, each exactly once; returns how many fired."""
    with transaction(factory) as session:
        timers = service.claim_due_timers(session=session, now=clock(), limit=batch_size)
        for timer in timers:
            if timer.kind == HOLD:
                _hold_expired(session, timer, clock())
            else:
                service.on_timeout(session=session, timer=timer, config=config(), now=clock())
    return len(timers)


def _hold_expired(session: Session, timer: Timer, now: datetime) -> None:
    """No CLA answered a held alert in time: escalate it anyway, marked unverified."""
    incident = session.get(Incident, timer.subject_id)
    if incident is None or incident.status in incidents.CLOSED:
        return
    if session.scalar(select(Escalation).where(Escalation.incident_id == incident.id)) is None:
        incidents.record(session=session, incident=incident, kind="hold_expired", actor=incidents.SYSTEM)
        service.start(session=session, incident=incident, config=config(), priority=incident.priority or "P3", now=now)
