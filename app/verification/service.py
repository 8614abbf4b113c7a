"""Missed calls become call-back tasks for the CLA on duty; incidents go to the responsible CLA to confirm."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.core.clock import utcnow
from app.geo.distance import haversine_m
from app.incidents import service as incidents
from app.incidents.models import Incident, Report
from app.notify import service as outbox
from app.reporters import service as reporters
from app.reporters.models import Reporter
from app.reporters.phones import to_e164
from app.security.crypto import Vault
from app.verification import trust as trust_rules
from app.verification.models import CallbackTask, Cla, VerificationRequest

MESSAGES_FILE = Path(__file__).with_name("messages.json")
ANSWERS = {"1": "confirmed", "2": "false", "3": "unknown"}
# A CLA slightly beyond their area still beats nobody: a beep just outside it is theirs before anyone else's.
AREA_SLACK = 1.5


def on_duty(cla: Cla, now: datetime, timezone: str) -> bool:
    """Whether the CLA's schedule covers this moment (no schedule: always)."""
    if not cla.active:
        return False
    if not cla.schedule:
        return True
    local = now.astimezone(ZoneInfo(timezone))
    clock = local.strftime("%H:%M")
    return any(local.weekday() in shift.get("days", range(7)) and shift["start"] <= clock < shift["end"]
               for shift in cla.schedule)  # fmt: skip


def responsible_cla(
    *, session: Session, lat: float | None, lon: float | None, now: datetime, timezone: str
) -> Cla | None:
    """The on-duty CLA whose area holds the place (nearest first); None when nobody's does or there is no place."""
    if lat is None or lon is None:
        return None
    ranked = []
    for cla in session.scalars(select(Cla).where(Cla.active.is_(True))):
        distance_km = haversine_m(lat, lon, cla.area_lat, cla.area_lon) / 1000
        if distance_km <= cla.area_radius_km * AREA_SLACK and on_duty(cla, now, timezone):
            ranked.append((distance_km / cla.area_radius_km, cla.id, cla))
    return min(ranked)[2] if ranked else None


def record_beep(
    *, session: Session, vault: Vault, report: Report, now: datetime, timezone: str, language: str
) -> CallbackTask | None:
    """Fold a missed call into the caller's open task, or open one and tell the CLA on duty by SMS."""
    if report.reporter_id is None:
        return None
    task = session.scalar(
        select(CallbackTask)
        .where(CallbackTask.reporter_id == report.reporter_id, CallbackTask.status.in_(("open", "claimed")))
        .with_for_update()
    )
    if task is not None:
        task.beeps, task.last_beep_at, task.updated_at = task.beeps + 1, now, now
        return task
    cla = responsible_cla(session=session, lat=report.lat, lon=report.lon, now=now, timezone=timezone)
    task = CallbackTask(reporter_id=report.reporter_id, cla_id=cla.id if cla else None, first_report_id=report.id,
                        beeps=1, status="open", created_at=now, last_beep_at=now, updated_at=now)  # fmt: skip
    session.add(task)
    session.flush()
    if cla is not None:
        _tell_cla_to_call_back(session, vault, task, cla, report, now, language)
    return task


def _tell_cla_to_call_back(
    session: Session, vault: Vault, task: CallbackTask, cla: Cla, report: Report, now: datetime, language: str
) -> None:
    """The CLA must call back, so they get the number: one audited reveal, by SMS to their phone."""
    caller = session.get(Reporter, task.reporter_id)
    number = vault.decrypt(caller.phone_encrypted) if caller and caller.phone_encrypted else None
    if number is None:
        return
    words = _messages(cla.languages[0] if cla.languages else language)
    place = caller.home_place if caller and caller.home_place else words["unknown_place"]
    outbox.enqueue(
        session=session, key=f"callback:{task.id}", purpose="callback_task", channel="sms",
        masked=_masked(session, cla), text=words["callback"].format(number=number, place=place, task=task.id),
        now=now, reporter_id=cla.reporter_id,
    )  # fmt: skip
    audit.record(session=session, actor=f"cla:{cla.name}", action="reporter.reveal", target=f"reporter:{caller.id}",
                 via="sms", task=task.id)  # fmt: skip


def _masked(session: Session, cla: Cla) -> str:
    reporter = session.get(Reporter, cla.reporter_id)
    return (reporter.phone_masked if reporter else None) or "••••"


def request(
    *, session: Session, incident: Incident, decision: trust_rules.Decision, now: datetime, timezone: str,
    language: str,
) -> VerificationRequest:  # fmt: skip
    """Put the incident to its CLA by voice call and SMS (once per incident)."""
    existing = session.scalar(select(VerificationRequest).where(VerificationRequest.incident_id == incident.id))
    if existing is not None:
        return existing
    cla = responsible_cla(session=session, lat=incident.lat, lon=incident.lon, now=now, timezone=timezone)
    verification = VerificationRequest(incident_id=incident.id, cla_id=cla.id if cla else None,
                                       reason=decision.reason[:200], held=decision.hold, state="pending",
                                       created_at=now)  # fmt: skip
    session.add(verification)
    session.flush()
    incident.verification = "pending" if cla else incident.verification
    incidents.record(
        session=session,
        incident=incident,
        kind="verification_requested",
        actor=incidents.SYSTEM,
        data={"cla": cla.name if cla else None, "held": decision.hold, "reason": decision.reason},
    )
    if cla is not None:
        spoken = cla.languages[0] if cla.languages else language
        words = _messages(spoken)
        text = words["confirm"].format(ref=incident.ref, category=_category(words, incident),
                                       place=incident.place or words["unknown_place"])  # fmt: skip
        for channel in ("voice", "sms"):
            outbox.enqueue(session=session, key=f"confirm:{incident.ref}:{channel}", purpose="confirm",
                           channel=channel, masked=_masked(session, cla), text=text, now=now,
                           reporter_id=cla.reporter_id, incident_id=incident.id,
                           language=spoken if channel == "voice" else None)  # fmt: skip
    return verification


def _category(words: dict[str, Any], incident: Incident) -> str:
    return words["categories"].get(incident.category, incident.category.replace("_", " "))


def cla_for_reporter(*, session: Session, reporter_id: int | None) -> Cla | None:
    """The CLA whose phone this reporter identity is."""
    if reporter_id is None:
        return None
    return session.scalar(select(Cla).where(Cla.reporter_id == reporter_id, Cla.active.is_(True)))


def record_answer(
    *, session: Session, incident: Incident, answer: str, actor: str, via: str, now: datetime, count_trust: bool = True
) -> bool:
    """Store a CLA's answer (confirmed, false, unknown) and update the reporters' trust; False if already answered."""
    verification = session.scalar(
        select(VerificationRequest).where(VerificationRequest.incident_id == incident.id).with_for_update()
    )
    if verification is None:
        verification = VerificationRequest(incident_id=incident.id, reason="answered without a request",
                                           state="pending", created_at=now)  # fmt: skip
        session.add(verification)
    if verification.state in ("confirmed", "false"):
        return False
    verification.state, verification.answered_by, verification.answered_via = answer, actor[:100], via
    verification.answered_at = now
    if answer in ("confirmed", "false"):
        incident.verification = answer
        if count_trust:
            _update_trust(session, incident, answer)
    elif incident.verification == "pending":
        incident.verification = "unverified"
    incidents.record(session=session, incident=incident, kind="verified", actor=actor, data={"answer": answer,
                     "via": via})  # fmt: skip
    return True


def _update_trust(session: Session, incident: Incident, answer: str) -> None:
    ids = set(session.scalars(select(Report.reporter_id).where(Report.incident_id == incident.id,
                                                                  Report.reporter_id.is_not(None))))  # fmt: skip
    for reporter in session.scalars(select(Reporter).where(Reporter.id.in_(ids))):
        if reporter.kind == "cla":
            continue
        if answer == "confirmed":
            reporter.confirmed_reports += 1
        else:
            reporter.false_reports += 1
        reporter.trust = trust_rules.trust(reporter.kind, reporter.confirmed_reports, reporter.false_reports)


def distrusted_false(*, session: Session, incident: Incident) -> int | None:
    """How many of the worst sender's alerts proved false, when that sender is distrusted; else None."""
    rows = session.scalars(
        select(Reporter).join(Report, Report.reporter_id == Reporter.id).where(Report.incident_id == incident.id)
    ).unique()
    worst = [r.false_reports for r in rows
             if r.false_reports and trust_rules.trust(r.kind, r.confirmed_reports, r.false_reports)
             < trust_rules.DISTRUST_BELOW]  # fmt: skip
    return max(worst) if worst else None


def reporter_kinds(*, session: Session, incident: Incident) -> list[str]:
    """The kinds of the incident's reporters."""
    return list(session.scalars(
        select(Reporter.kind).join(Report, Report.reporter_id == Reporter.id).where(Report.incident_id == incident.id)
    ))  # fmt: skip


@lru_cache
def _all_messages() -> dict[str, Any]:
    data = json.loads(MESSAGES_FILE.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _messages(language: str) -> dict[str, Any]:
    return _all_messages().get(language) or _all_messages()["fr"]


def hold_expires(now: datetime, minutes: float) -> datetime:
    """When a held alert escalates anyway if no CLA has answered."""
    return now + timedelta(minutes=minutes)


class ClaError(ValueError):
    """A CLA that cannot be registered; the message says why."""


@dataclass(frozen=True)
class Area:
    """Where a CLA answers for: a named centre and a radius."""

    name: str
    lat: float
    lon: float
    radius_km: float


def register_cla(
    *, session: Session, vault: Vault, name: str, phone: str, default_region: str, area: Area, languages: list[str],
    schedule: list[dict[str, Any]],
) -> Cla:  # fmt: skip
    """Register (or update, by name) a CLA; their phone becomes a reporter identity of kind cla."""
    number = to_e164(phone, default_region)
    if number is None:
        raise ClaError("phone: not a phone number")
    _check_schedule(schedule)
    identity = reporters.phone_identity(vault, number)
    reporter = reporters.get_or_create(session=session, vault=vault, identity_hash=identity, phone=number, kind="cla",
                                       language=languages[0] if languages else None)  # fmt: skip
    reporter.kind = "cla"
    cla = session.scalar(select(Cla).where(Cla.name == name))
    if cla is None:
        cla = Cla(name=name, reporter_id=reporter.id, created_at=utcnow(), active=True, area_name=area.name,
                  area_lat=area.lat, area_lon=area.lon, area_radius_km=area.radius_km)  # fmt: skip
        session.add(cla)
    cla.reporter_id, cla.area_name, cla.area_radius_km = reporter.id, area.name, area.radius_km
    cla.area_lat, cla.area_lon, cla.languages, cla.schedule = area.lat, area.lon, languages, schedule
    session.flush()
    return cla


def _check_schedule(schedule: list[dict[str, Any]]) -> None:
    for i, shift in enumerate(schedule):
        days, start, end = shift.get("days", list(range(7))), shift.get("start"), shift.get("end")
        good_days = isinstance(days, list) and all(isinstance(d, int) and 0 <= d <= 6 for d in days)
        good_times = all(isinstance(t, str) and len(t) == 5 and t[2] == ":" and "00:00" <= t <= "24:00"
                         for t in (start, end))  # fmt: skip
        if not (good_days and good_times and start < end):
            raise ClaError(f"schedule[{i}]: days 0-6 (Monday 0) and start < end as HH:MM")
