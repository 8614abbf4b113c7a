"""Abuse resistance: a flooding number is folded and flagged, a burst of unknown numbers is shown to operators.

Nothing is ever dropped: every message is stored and becomes a report. What changes is what it may set off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.abuse.models import OperatorWarning, WarningKind
from app.core.clock import utcnow
from app.core.config import get_settings
from app.feed import events as feed
from app.incidents import service as incidents
from app.incidents.models import Incident, IncidentEvent, Report
from app.reporters.models import Reporter, ReporterKind

FLAGGED = "abuse_flagged"  # timeline kind: the incident stands on a suspicious pattern
CELL_DEGREES = 0.25  # bursts are keyed by a cell of about 28 km, so one area keeps one warning
KM_PER_DEGREE = 111.32


@dataclass(frozen=True)
class Limits:
    """The thresholds, from settings: how much one number, and how many new numbers in one area, is too much."""

    sender_limit: int
    sender_window: timedelta
    burst_senders: int
    burst_window: timedelta
    burst_radius_km: float

    @classmethod
    def from_settings(cls) -> Limits:
        s = get_settings()
        return cls(s.flood_sender_limit, timedelta(minutes=s.flood_window_minutes), s.burst_unknown_senders,
                   timedelta(minutes=s.burst_window_minutes), s.burst_radius_km)  # fmt: skip


def _exempt(session: Session, report: Report) -> Reporter | None:
    """The report's reporter, or None when the pattern rules do not apply (CLAs, codes, beeps, no sender)."""
    if report.reporter_id is None or report.channel == "voice" or (report.details or {}).get("command"):
        return None
    reporter = session.get(Reporter, report.reporter_id)
    if reporter is None or reporter.kind == ReporterKind.cla:
        return None  # a CLA relays a whole area: many messages from one number is their job
    return reporter


def screen_sender(session: Session, report: Report) -> None:
    """Pipeline step: past the limit, a sender's report folds into their latest incident and is flagged there."""
    reporter = _exempt(session, report)
    if reporter is None:
        return
    limits = Limits.from_settings()
    since = report.received_at - limits.sender_window
    if reporter.created_at == reporter.last_seen_at:
        return  # registered by this very message (get_or_create stamps both alike): nothing earlier to count
    recent = session.scalar(
        select(func.count()).where(
            Report.reporter_id == reporter.id, Report.received_at > since, Report.received_at <= report.received_at
        )
    )
    if (recent or 0) <= limits.sender_limit:
        return
    details = dict(report.details or {})
    details["flood"] = True
    report.details = details
    latest = session.scalar(
        select(Report)
        .where(Report.reporter_id == reporter.id, Report.incident_id.is_not(None), Report.id != report.id)
        .where(Report.exercise == report.exercise)
        .order_by(Report.id.desc())
        .limit(1)
    )
    if latest is not None:
        # Folded like a repeat: it is on the incident's record but is no second witness and sets nothing off.
        report.incident_id = latest.incident_id
        report.repeat_of_id = latest.repeat_of_id or latest.id
    incident = session.get(Incident, latest.incident_id) if latest is not None else None
    _raise(session, kind=WarningKind.sender_flood, key=f"reporter:{reporter.id}", report=report,
           window=limits.sender_window, incident=incident, reporter_id=reporter.id, senders=1)  # fmt: skip
    if incident is not None:
        flag(session, incident, WarningKind.sender_flood)


def watch_area(session: Session, report: Report) -> None:
    """Pipeline step: many first-time numbers reporting in one area at once raise a possible-decoy warning."""
    reporter = _exempt(session, report)
    if reporter is None or report.lat is None or report.lon is None or report.repeat_of_id is not None:
        return
    limits = Limits.from_settings()
    if not _unknown(reporter, report.received_at - limits.burst_window):
        return
    senders = _unknown_senders_near(session, report, limits)
    if senders < limits.burst_senders:
        return
    key = f"cell:{_cell(report.lat)}:{_cell(report.lon)}"
    incident = session.get(Incident, report.incident_id) if report.incident_id is not None else None
    _raise(session, kind=WarningKind.unknown_burst, key=key, report=report, window=limits.burst_window,
           incident=incident, reporter_id=None, senders=senders)  # fmt: skip
    if incident is not None:
        flag(session, incident, WarningKind.unknown_burst)


def _unknown(reporter: Reporter, since: datetime) -> bool:
    """First seen within the window and no alert of theirs ever confirmed."""
    return reporter.created_at > since and not reporter.confirmed_reports and reporter.kind == ReporterKind.villager


def _unknown_senders_near(session: Session, report: Report, limits: Limits) -> int:
    """Distinct first-time senders whose reports in the window lie within the radius of this one."""
    since = report.received_at - limits.burst_window
    dlat = limits.burst_radius_km / KM_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(report.lat or 0.0)), 0.1)
    rows = session.execute(
        select(Report.reporter_id, Report.lat, Report.lon)
        .join(Reporter, Reporter.id == Report.reporter_id)
        .where(Report.received_at > since, Report.received_at <= report.received_at,
               Report.lat.between(report.lat - dlat, report.lat + dlat),  # type: ignore[operator]
               Report.lon.between(report.lon - dlon, report.lon + dlon),  # type: ignore[operator]
               Reporter.created_at > since, Reporter.confirmed_reports == 0,
               Reporter.kind == ReporterKind.villager, Report.exercise == report.exercise)
    ).all()  # fmt: skip
    near = {r for r, lat, lon in rows if _km(report.lat, report.lon, lat, lon) <= limits.burst_radius_km}
    return len(near)


def _km(lat1: float | None, lon1: float | None, lat2: float, lon2: float) -> float:
    """Equirectangular distance: exact enough at tens of kilometres."""
    assert lat1 is not None and lon1 is not None
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(x, math.radians(lat2 - lat1)) * 6371.0


def _cell(value: float) -> str:
    return f"{math.floor(value / CELL_DEGREES) * CELL_DEGREES:.2f}"


def _raise(
    session: Session,
    *,
    kind: str,
    key: str,
    report: Report,
    window: timedelta,
    incident: Incident | None,
    reporter_id: int | None,
    senders: int,
) -> OperatorWarning:
    """Count the report on the live warning for `key`, or open one (and tell the feed) when none is live."""
    now = report.received_at
    warning = session.scalar(
        select(OperatorWarning)
        .where(OperatorWarning.key == key, OperatorWarning.last_at > now - window)
        .order_by(OperatorWarning.id.desc())
        .limit(1)
    )
    if warning is None:
        warning = OperatorWarning(kind=kind, key=key, reporter_id=reporter_id, first_at=now, last_at=now,
                                  lat=report.lat, lon=report.lon, exercise=report.exercise)  # fmt: skip
        session.add(warning)
        session.flush()
        feed.publish(session, feed.FeedEvent(f"warning.{kind}", f"W-{warning.id}", {"exercise": report.exercise}))
    warning.message_count += 1
    warning.sender_count = max(warning.sender_count, senders)
    warning.last_at = max(warning.last_at, now)
    if incident is not None:
        warning.incident_id = incident.id
    return warning


def flag(session: Session, incident: Incident, kind: str) -> None:
    """Put the suspicion on the incident's timeline once per kind."""
    seen = session.scalar(
        select(IncidentEvent.id)
        .where(IncidentEvent.incident_id == incident.id, IncidentEvent.kind == FLAGGED)
        .where(IncidentEvent.data["warning"].as_string() == kind)
        .limit(1)
    )
    if seen is None:
        incidents.record(session=session, incident=incident, kind=FLAGGED, actor=incidents.SYSTEM,
                         data={"warning": kind})  # fmt: skip


def suspicion(session: Session, incident: Incident) -> str | None:
    """Why the incident may be a decoy or a flood, if it stands only on such reports; None otherwise."""
    kinds = session.scalars(
        select(IncidentEvent.data).where(IncidentEvent.incident_id == incident.id, IncidentEvent.kind == FLAGGED)
    ).all()
    if not kinds:
        return None
    names = sorted({k.get("warning", "") for k in kinds})
    return "possible decoy: " + ", ".join(n.replace("_", " ") for n in names)


def acknowledge(session: Session, warning: OperatorWarning, actor: str) -> None:
    """An operator has seen it (counting goes on while the pattern lasts)."""
    if warning.acknowledged_at is None:
        warning.acknowledged_at = utcnow()
        warning.acknowledged_by = actor[:64]
