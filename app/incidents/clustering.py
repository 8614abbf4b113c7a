"""Which open incident a new report belongs to (pure: plain values in, a decision out)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.geo.distance import haversine_m

# Reports of one attack arrive as "attack", "burning", "shots", "people fleeing": all of these can be one event.
VIOLENCE = frozenset({
    "attack_civilians", "abduction", "sexual_violence", "armed_clash", "armed_presence", "threat", "looting",
    "burning", "gunfire", "displacement",
})  # fmt: skip
# Two reports farther apart than this are never one event, whatever their precision radii say.
MAX_JOIN_DISTANCE_M = 15_000.0
# An incident takes reports for at most this long after its first one: a new day's attack is a new incident.
MAX_INCIDENT_SPAN = timedelta(hours=24)
INCIDENT_REF = re.compile(r"\bK-?(\d{4,6})\b", re.IGNORECASE)


@dataclass(frozen=True)
class ClusterRule:
    """How far in time and space a report may be from an incident and still be about it."""

    window: timedelta
    radius_m: float


DEFAULT_RULE = ClusterRule(window=timedelta(hours=12), radius_m=5_000.0)
# Presence and threats drift (a column moving, a threat repeated): longer windows, wider radii.
RULES: dict[str, ClusterRule] = {
    "armed_presence": ClusterRule(window=timedelta(hours=18), radius_m=10_000.0),
    "threat": ClusterRule(window=timedelta(hours=24), radius_m=8_000.0),
    "displacement": ClusterRule(window=timedelta(hours=24), radius_m=10_000.0),
}


@dataclass(frozen=True)
class ReportFacts:
    """What clustering needs to know about a new report."""

    category: str | None
    lat: float | None
    lon: float | None
    precision_m: float | None
    received_at: datetime
    quoted_refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncidentFacts:
    """What clustering needs to know about an open incident."""

    id: int
    ref: str
    category: str
    lat: float | None
    lon: float | None
    precision_m: float | None
    first_report_at: datetime
    last_report_at: datetime


def quoted_refs(text: str) -> tuple[str, ...]:
    """Incident references quoted in a message ("K-4821", "k4821")."""
    return tuple(f"K-{digits}" for digits in INCIDENT_REF.findall(text))


def compatible(a: str | None, b: str | None) -> bool:
    """Whether reports of these two categories can describe one event."""
    if a is None or b is None:
        return False
    return a == b or (a in VIOLENCE and b in VIOLENCE)


def rule_for(category: str | None, rules: dict[str, ClusterRule] | None = None) -> ClusterRule:
    """The time window and radius that apply to a category."""
    return (rules or RULES).get(category or "", DEFAULT_RULE)


def join_distance_m(report: ReportFacts, incident: IncidentFacts, rule: ClusterRule) -> float | None:
    """How far apart they are if close enough given both precisions, else None."""
    if None in (report.lat, report.lon, incident.lat, incident.lon):
        return None
    d = haversine_m(report.lat, report.lon, incident.lat, incident.lon)  # type: ignore[arg-type]
    allowance = min(rule.radius_m + (report.precision_m or 0) + (incident.precision_m or 0), MAX_JOIN_DISTANCE_M)
    return d if d <= allowance else None


def within_window(report: ReportFacts, incident: IncidentFacts, rule: ClusterRule) -> bool:
    """Whether the report falls within the incident's active period, widened by the window."""
    if report.received_at - incident.first_report_at > MAX_INCIDENT_SPAN:
        return False
    return incident.first_report_at - rule.window <= report.received_at <= incident.last_report_at + rule.window


def choose_incident(
    report: ReportFacts, candidates: Sequence[IncidentFacts], rules: dict[str, ClusterRule] | None = None
) -> IncidentFacts | None:
    """The incident this report joins: one it quotes, else the nearest compatible one in time and space."""
    by_ref = {c.ref: c for c in candidates}
    for ref in report.quoted_refs:
        if ref in by_ref:
            return by_ref[ref]
    best: tuple[float, IncidentFacts] | None = None
    for incident in candidates:
        rule = rule_for(report.category, rules)
        if not compatible(report.category, incident.category) or not within_window(report, incident, rule):
            continue
        d = join_distance_m(report, incident, rule)
        if d is not None and (best is None or d < best[0]):
            best = (d, incident)
    return best[1] if best else None


def search_box(report: ReportFacts, rules: dict[str, ClusterRule] | None = None) -> tuple[datetime, datetime]:
    """The time range in which candidate incidents must have been active (the query's index range)."""
    window = max([rule_for(report.category, rules).window, *[r.window for r in (rules or RULES).values()]])
    return report.received_at - window, report.received_at + window
