"""Escalation: rank units for an incident, notify level by level, and stop when someone acknowledges."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.db import insert_ignore
from app.escalation.models import Escalation, Timer
from app.escalation.policy import PRIORITIES, Level, Policy, load_policy
from app.feedback.receipts import update_text
from app.incidents import service as incidents
from app.incidents.models import Incident, Report
from app.notify import service as outbox
from app.notify.models import Notification
from app.reporters.models import Reporter
from app.routing import service as routing
from app.routing.ranking import RankingParams
from app.units import service as units
from app.units.models import Unit, UnitKind, UnitStatus

logger = logging.getLogger(__name__)

MESSAGES_FILE = Path(__file__).with_name("messages.json")
# Units that go to an incident; HQs and the JOC are told at their own levels.
RESPONDERS = (UnitKind.company_base, UnitKind.temporary_base, UnitKind.patrol, UnitKind.police)
TIMEOUT = "escalation_timeout"
ALERT_PURPOSES = ("alert",)
# An operator's dispatch is a decision, not a step of the escalation: an acknowledgement never cancels it.
DISPATCH = "dispatch"
DISPATCH_CHANNELS = ("sms", "voice", "webhook")
STOPPED = frozenset({"acknowledged", "resolved", "stood_down"})
RANKING_KEPT = 10


@dataclass(frozen=True)
class EscalationConfig:
    """What escalation needs from Settings."""

    policy: Policy
    language: str = "fr"
    alert_sms_validity_s: int = 600
    detour_factor: float = 1.4


def start(
    *, session: Session, incident: Incident, config: EscalationConfig, priority: str, now: datetime
) -> Escalation:
    """Rank units and notify the first level; an incident already escalating is returned as it is."""
    existing = escalation_of(session, incident)
    if existing is not None:
        return existing
    return begin(session=session, incident=incident, config=config, priority=priority, now=now)


def escalation_of(session: Session, incident: Incident) -> Escalation | None:
    """The incident's escalation, if it has one."""
    return session.scalar(select(Escalation).where(Escalation.incident_id == incident.id))


def begin(
    *, session: Session, incident: Incident, config: EscalationConfig, priority: str, now: datetime
) -> Escalation:
    """`start` for an incident its caller has just seen has no escalation (one lookup fewer on the worker's path)."""
    escalation = Escalation(
        incident_id=incident.id, priority=priority, state="active", level=0, round=0, started_at=now, updated_at=now,
        ranking=_ranking(session, incident, config), notified_unit_ids=[], current_unit_ids=[],
    )  # fmt: skip
    session.add(escalation)
    session.flush()
    if incident.status == "open":
        incidents.change_status(session=session, incident=incident, status="escalated", actor=incidents.SYSTEM)
    top = [{"unit": r["name"], "why": r["explanation"]} for r in escalation.ranking[:3]]
    incidents.record(session=session, incident=incident, kind="escalation_started", actor=incidents.SYSTEM,
                     data={"priority": priority, "ranking": top})  # fmt: skip
    notify_level(session=session, escalation=escalation, incident=incident, config=config, now=now)
    return escalation


def _ranking(session: Session, incident: Incident, config: EscalationConfig) -> list[dict[str, Any]]:
    """Responders by ETA to the incident, with their explanations (none when the incident has no place)."""
    if incident.lat is None or incident.lon is None:
        return []
    params = RankingParams(detour_factor=config.detour_factor)
    ranked = routing.rank_for(session=session, lat=incident.lat, lon=incident.lon, kinds=list(RESPONDERS),
                              params=params, best=RANKING_KEPT)  # fmt: skip
    return [
        {"unit_id": r.unit_id, "name": r.name, "eta_s": r.eta_s, "distance_m": r.distance_m, "method": r.method,
         "explanation": r.explanation, "route": list(r.route), "closed_avoided": list(r.closed_avoided)}
        for r in ranked[:RANKING_KEPT]
    ]  # fmt: skip


def notify_level(*, session: Session, escalation: Escalation, incident: Incident, config: EscalationConfig,
                 now: datetime) -> None:  # fmt: skip
    """Queue the current level's messages and arm its deadline; a level with nobody to tell passes at once."""
    last = len(config.policy.levels[escalation.priority]) - 1
    while True:
        level = config.policy.level(escalation.priority, escalation.level)
        targets = _targets(session, escalation, level)
        escalation.current_unit_ids = [u.id for u in targets]
        escalation.notified_unit_ids = sorted(set(escalation.notified_unit_ids) | {u.id for u in targets})
        queued = _queue_alerts(session, escalation, incident, level, targets, config, now)
        incidents.record(
            session=session, incident=incident, kind="notified", actor=incidents.SYSTEM,
            data={"level": level.name, "round": escalation.round, "units": [u.name for u in targets],
                  "messages": queued, "channels": list(level.channels)},
        )  # fmt: skip
        if queued or escalation.level >= last:
            break
        escalation.level, escalation.round = escalation.level + 1, 0
    escalation.updated_at = now
    arm(session=session, escalation=escalation, due_at=now + timedelta(seconds=level.ack_timeout_s))


def _targets(session: Session, escalation: Escalation, level: Level) -> list[Unit]:
    """The units this level names: the next ranked responders, the sector HQ, or the JOC."""
    if level.target == "ranked":
        repeat = escalation.round > 0
        order = [r["unit_id"] for r in escalation.ranking]
        chosen = escalation.current_unit_ids if repeat else [i for i in order if i not in escalation.notified_unit_ids]
        ids = chosen[: level.count] if not repeat else chosen
        found = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))}
        return [found[i] for i in ids if i in found]
    query = select(Unit).where(Unit.status != UnitStatus.offline)
    if level.target == "joc":
        return list(session.scalars(query.where(Unit.kind == UnitKind.joc).order_by(Unit.id)))
    # No ranking (the incident has no place): no sector can be meant, and the JOC comes next.
    sector = _sector(session, escalation)
    return list(session.scalars(query.where(Unit.kind == UnitKind.sector_hq, Unit.sector == sector).order_by(Unit.id)))


def _sector(session: Session, escalation: Escalation) -> str | None:
    """The sector of the best-ranked unit: the incident is in its area."""
    if not escalation.ranking:
        return None
    best = session.get(Unit, escalation.ranking[0]["unit_id"])
    return best.sector if best else None


def _queue_alerts(session: Session, escalation: Escalation, incident: Incident, level: Level, targets: list[Unit],
                  config: EscalationConfig, now: datetime) -> int:  # fmt: skip
    etas = {r["unit_id"]: r["eta_s"] for r in escalation.ranking}
    queued = 0
    for contact in units.contacts(session=session, unit_ids=[u.id for u in targets], channels=level.channels):
        text = alert_text(incident, escalation.priority, etas.get(contact.unit_id), config.language)
        queued += outbox.enqueue(
            session=session, key=f"alert:{incident.ref}:{escalation.level}:{escalation.round}:{contact.id}",
            purpose="alert", channel=contact.channel, masked=contact.address_masked, text=text, now=now,
            contact_id=contact.id, incident_id=incident.id, unit_id=contact.unit_id,
            validity_s=config.alert_sms_validity_s if contact.channel == "sms" else None,
        )  # fmt: skip
    return queued


def alert_text(incident: Incident, priority: str, eta_s: float | None, language: str) -> str:
    """The alert a unit reads: what, where, how sure, its own ETA, and how to acknowledge."""
    words = _messages().get(language) or _messages()["en"]
    eta = _duration(eta_s) if eta_s is not None else words["no_eta"]
    return words["alert"].format(
        priority=priority, ref=incident.ref, severity=words["severity"].get(incident.severity, incident.severity),
        category=words["categories"].get(incident.category, incident.category.replace("_", " ")),
        place=incident.place or words["unknown_place"], witnesses=incident.reporter_count,
        verification=words["verification"].get(incident.verification, incident.verification), eta=eta,
    )  # fmt: skip


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"


@lru_cache
def _messages() -> dict[str, Any]:
    data = json.loads(MESSAGES_FILE.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def arm(*, session: Session, escalation: Escalation, due_at: datetime) -> None:
    """Arm the deadline of the escalation's current level and round (arming it twice is a no-op)."""
    key = f"escalation:{escalation.id}:level:{escalation.level}:round:{escalation.round}"
    insert_ignore(session, Timer, {"key": key, "kind": TIMEOUT, "subject_id": escalation.id, "due_at": due_at}, ["key"])


def oldest_due_timer(*, session: Session, now: datetime) -> datetime | None:
    """When the longest-waiting unfired deadline fell due; None when none is due."""
    query = select(func.min(Timer.due_at)).where(
        Timer.fired_at.is_(None), Timer.canceled_at.is_(None), Timer.due_at <= now
    )
    return session.scalar(query)


def claim_due_timers(*, session: Session, now: datetime, limit: int) -> list[Timer]:
    """Lock due timers (skipping those another worker holds) and mark them fired: each fires once."""
    query = (
        select(Timer)
        .where(Timer.fired_at.is_(None), Timer.canceled_at.is_(None), Timer.due_at <= now)
        .order_by(Timer.due_at, Timer.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    timers = list(session.scalars(query))
    for timer in timers:
        timer.fired_at = now
    return timers


def on_timeout(*, session: Session, timer: Timer, config: EscalationConfig, now: datetime) -> None:
    """Nobody acknowledged in time: repeat the level or move up the policy."""
    escalation = session.get(Escalation, timer.subject_id, with_for_update=True)
    if escalation is None or escalation.state != "active" or timer.key != _current_key(escalation):
        return  # acknowledged meanwhile, or a stale deadline
    incident = session.get(Incident, escalation.incident_id)
    assert incident is not None
    if incident.status in incidents.CLOSED or incident.status == "acknowledged":
        # Resolved, merged away, a false alarm, or acknowledged from the dashboard: nobody needs waking.
        escalation.state, escalation.updated_at = (
            ("acknowledged" if incident.status == "acknowledged" else "resolved"),
            now,
        )
        stop(session=session, escalation=escalation, now=now)
        return
    step = config.policy.next_step(escalation.priority, escalation.level, escalation.round)
    escalation.level, escalation.round = step
    notify_level(session=session, escalation=escalation, incident=incident, config=config, now=now)


def _current_key(escalation: Escalation) -> str:
    return f"escalation:{escalation.id}:level:{escalation.level}:round:{escalation.round}"


def acknowledge(
    *, session: Session, incident: Incident, actor: str, via: str, unit: Unit | None, now: datetime
) -> bool:
    """Someone took it: stop notifying, mark the incident acknowledged, tell the reporters. False if already done."""
    escalation = session.scalar(select(Escalation).where(Escalation.incident_id == incident.id).with_for_update())
    if escalation is not None and escalation.state in STOPPED:
        return False
    if escalation is not None:
        escalation.state, escalation.acknowledged_at, escalation.updated_at = "acknowledged", now, now
        escalation.acknowledged_by, escalation.acknowledged_unit_id = actor, unit.id if unit else None
        stop(session=session, escalation=escalation, now=now)
    if incident.status in ("open", "escalated"):
        incidents.set_status(session=session, ref=incident.ref, status="acknowledged", actor=actor,
                             note=f"via {via}" + (f" by {unit.name}" if unit else ""))  # fmt: skip
    tell_reporters(session=session, incident=incident, event="acknowledged", now=now)
    return True


def stop(*, session: Session, escalation: Escalation, now: datetime) -> None:
    """Cancel the escalation's armed deadlines and its alerts not yet sent."""
    session.execute(
        update(Timer)
        .where(Timer.subject_id == escalation.id, Timer.kind == TIMEOUT, Timer.fired_at.is_(None))
        .values(canceled_at=now)
    )
    outbox.cancel_pending(session=session, incident_id=escalation.incident_id, purposes=ALERT_PURPOSES)


def close(*, session: Session, incident: Incident, state: str, now: datetime) -> None:
    """The incident is resolved (or stood down): its escalation stops for good."""
    escalation = session.scalar(select(Escalation).where(Escalation.incident_id == incident.id).with_for_update())
    if escalation is not None and escalation.state not in ("resolved", "stood_down"):
        escalation.state, escalation.updated_at = state, now
        stop(session=session, escalation=escalation, now=now)


def stand_down(*, session: Session, incident: Incident, config: EscalationConfig, now: datetime) -> int:
    """A false alarm: stop escalating and tell every unit already alerted, by SMS, to stand down."""
    escalation = session.scalar(select(Escalation).where(Escalation.incident_id == incident.id).with_for_update())
    told = set(escalation.notified_unit_ids if escalation else ()) | _dispatched_units(session, incident)
    if escalation is None and not told:
        return 0
    if escalation is not None and escalation.state != "stood_down":
        escalation.state, escalation.updated_at = "stood_down", now
        stop(session=session, escalation=escalation, now=now)
    words = _messages().get(config.language) or _messages()["en"]
    sent = 0
    for contact in units.contacts(session=session, unit_ids=sorted(told), channels=["sms", "webhook"]):
        sent += outbox.enqueue(
            session=session, key=f"stand_down:{incident.ref}:{contact.id}", purpose="stand_down",
            channel=contact.channel, masked=contact.address_masked, text=words["stand_down"].format(ref=incident.ref),
            now=now, contact_id=contact.id, incident_id=incident.id, unit_id=contact.unit_id,
        )  # fmt: skip
    incidents.record(session=session, incident=incident, kind="stood_down", actor=incidents.SYSTEM,
                     data={"messages": sent})  # fmt: skip
    return sent


def _dispatched_units(session: Session, incident: Incident) -> set[int]:
    """Units an operator dispatched to the incident: they must hear a stand-down too."""
    query = select(Notification.unit_id).where(
        Notification.incident_id == incident.id, Notification.purpose == DISPATCH, Notification.unit_id.is_not(None)
    )
    return {unit_id for unit_id in session.scalars(query) if unit_id is not None}


def dispatch(
    *, session: Session, incident: Incident, unit: Unit, actor: str, note: str | None, config: EscalationConfig,
    now: datetime,
) -> int:  # fmt: skip
    """Alert the unit an operator chose, now, on every channel it has; returns how many messages were queued."""
    escalation = session.scalar(select(Escalation).where(Escalation.incident_id == incident.id))
    ranking = escalation.ranking if escalation else []
    eta = next((r["eta_s"] for r in ranking if r["unit_id"] == unit.id), None)
    text = alert_text(incident, incident.priority or "P?", eta, config.language)
    batch = uuid.uuid4().hex[:12]  # each dispatch is news, even of the same unit twice: a key of its own
    queued = 0
    for contact in units.contacts(session=session, unit_ids=[unit.id], channels=DISPATCH_CHANNELS):
        queued += outbox.enqueue(
            session=session, key=f"dispatch:{incident.ref}:{batch}:{contact.id}", purpose=DISPATCH,
            channel=contact.channel, masked=contact.address_masked, text=text, now=now, contact_id=contact.id,
            incident_id=incident.id, unit_id=unit.id,
            validity_s=config.alert_sms_validity_s if contact.channel == "sms" else None,
        )  # fmt: skip
    told = {"unit": unit.name, "unit_id": unit.id, "by": actor, "note": note, "messages": queued}
    incidents.record(session=session, incident=incident, kind="dispatched", actor=actor, data=told)
    if incident.status == "acknowledged":
        incidents.set_status(session=session, ref=incident.ref, status="responding", actor=actor,
                             note=f"{unit.name} dispatched")  # fmt: skip
    return queued


def tighten(
    *, session: Session, escalation: Escalation, priority: str, config: EscalationConfig, now: datetime
) -> bool:
    """Move an active escalation to a stricter priority, its pending deadline to that level's timeout; else False."""
    # The deadline comes forward too: waiting out a P4 timeout on what is now a P1 would not tighten anything.
    if escalation.state != "active" or PRIORITIES.index(priority) >= PRIORITIES.index(escalation.priority):
        return False
    escalation.priority = priority
    due = escalation.updated_at + timedelta(seconds=config.policy.level(priority, escalation.level).ack_timeout_s)
    timer = session.scalar(select(Timer).where(Timer.key == _current_key(escalation), Timer.fired_at.is_(None),
                                               Timer.canceled_at.is_(None)))  # fmt: skip
    if timer is not None and due < timer.due_at:
        timer.due_at = max(due, now)
    return True


def tell_reporters(*, session: Session, incident: Incident, event: str, now: datetime) -> int:
    """Queue one neutral update per reporter of the incident, in their language, naming their own receipt ref."""
    if incident.exercise:
        return 0  # drill senders are simulated numbers, and a simulated number may well be a stranger's phone
    rows = session.execute(
        select(Report.reporter_id, Report.receipt_ref, Reporter.language)
        .join(Reporter, Reporter.id == Report.reporter_id)
        .where(Report.incident_id == incident.id, Report.rejected_at.is_(None), Reporter.phone_encrypted.is_not(None))
        .order_by(Report.received_at)
    ).all()
    queued, seen = 0, set()
    for reporter_id, receipt_ref, language in rows:
        if reporter_id in seen:
            continue
        seen.add(reporter_id)
        reporter = session.get(Reporter, reporter_id)
        queued += outbox.enqueue(
            session=session, key=f"update:{incident.ref}:{event}:{reporter_id}", purpose="reporter_update",
            channel="sms", masked=(reporter.phone_masked if reporter else None) or "••••",
            text=update_text(event, receipt_ref, language), now=now, reporter_id=reporter_id, incident_id=incident.id,
        )  # fmt: skip
    return queued


@lru_cache
def default_policy(path: str | None) -> Policy:
    """The policy file named in settings, or the bundled one; read once."""
    return load_policy(Path(path) if path else None)
