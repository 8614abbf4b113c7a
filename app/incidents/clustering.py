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
# Reports trail their event by hours, so 18 h from the first report keeps events a day apart from ever sharing one.
MAX_INCIDENT_SPAN = timedelta(hours=18)

# A place known no better than this (a ring, a district) is weak evidence: time and toll must agree too.
WEAK_PLACE_M = 10_000.0
WEAK_PLACE_WINDOW_SHARE = 0.5
# "N km from Y" rings wider than this say too little to place a report among others; they join by reference only.
MAX_RING_M = 50_000.0
# Two rings, or two wide areas, are about one place only when they centre on one town.
SAME_TOWN_M = 3_000.0
MAX_AREA_M = 100_000.0  # beyond this an "area" is a province or the country: it says nothing

# Tolls grow as bodies are found, and reporters round: only a gap this wide says "another event"…
TOLL_FACTOR = 2.5
TOLL_SLACK = 5
# …and only this close says "the same event"; "1 dead" is said of too many events to tell any apart.
TOLL_MATCH_SLACK = 2
TOLL_MATCH_SHARE = 0.3
TOLL_MATCH_MIN = 3
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
    ring_m: float | None = None  # "N km from Y": on a circle of this radius around (lat, lon)
    dead: int | None = None  # the death toll the message states
    exercise: bool = False  # a drill report: it joins only drill incidents


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
    ring_m: float | None = None  # located only by "N km from Y" reports so far
    dead_range: tuple[int, int] | None = None  # lowest and highest death toll its reports state
    exercise: bool = False


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
    if not (placeable(report) and placeable(incident)):
        # Two reports naming the same wide area ("Louba, raided villages in Bakala") are as alike as they can be.
        same_area = report.ring_m is None and incident.ring_m is None and d <= SAME_TOWN_M
        return d if same_area and uncertainty_m(report) <= MAX_AREA_M else None
    if report.ring_m is not None and incident.ring_m is not None and d > SAME_TOWN_M:
        return None  # two circles round different towns cross at two points: which one, nothing says
    gap = ring_gap_m(d, report.ring_m, incident.ring_m)
    allowance = min(rule.radius_m + uncertainty_m(report) + uncertainty_m(incident), MAX_JOIN_DISTANCE_M)
    return gap if gap <= allowance else None


def placeable(facts: ReportFacts | IncidentFacts) -> bool:
    """Whether its place is narrow enough to join by: "somewhere in Haute-Kotto" could be any of its incidents."""
    return (facts.ring_m or 0) <= MAX_RING_M and uncertainty_m(facts) <= MAX_JOIN_DISTANCE_M


def uncertainty_m(facts: ReportFacts | IncidentFacts) -> float:
    """How far the true spot may be from the point, or, for a ring, from the circle."""
    return max((facts.precision_m or 0) - (facts.ring_m or 0), 0.0)


def ring_gap_m(centre_distance_m: float, ring_a_m: float | None, ring_b_m: float | None) -> float:
    """Distance between two circles (a point is a circle of radius 0) whose centres are this far apart."""
    a, b = ring_a_m or 0.0, ring_b_m or 0.0
    return max(centre_distance_m - (a + b), abs(a - b) - centre_distance_m, 0.0)


def within_window(report: ReportFacts, incident: IncidentFacts, rule: ClusterRule) -> bool:
    """Whether the report falls within the incident's active period, widened by the window."""
    if report.received_at - incident.first_report_at > MAX_INCIDENT_SPAN:
        return False
    window = rule.window * (WEAK_PLACE_WINDOW_SHARE if weakly_placed(report, incident) else 1)
    return incident.first_report_at - window <= report.received_at <= incident.last_report_at + window


def weakly_placed(report: ReportFacts, incident: IncidentFacts) -> bool:
    """Whether either side is only a ring or a wide area: then place alone cannot tell two events apart."""
    return weak_place(report) or weak_place(incident)


def weak_place(facts: ReportFacts | IncidentFacts) -> bool:
    """Whether its place is only a ring or a wide area."""
    return facts.ring_m is not None or uncertainty_m(facts) > WEAK_PLACE_M


def weak_join_agrees(report: ReportFacts, incident: IncidentFacts, alone: bool = False) -> bool:
    """With place weak, what else must agree: the same kind of event, a toll not far off; for a ring, the same toll."""
    if report.category != incident.category or tolls_disagree(report.dead, incident.dead_range):
        return False
    if (report.ring_m is None) == (incident.ring_m is None):
        return True  # two rings round one town, or two wide areas: place already says as much as it can
    if alone and report.dead is None and incident.dead_range is None:
        return True
    return tolls_match(report.dead, incident.dead_range)


def tolls_match(dead: int | None, dead_range: tuple[int, int] | None) -> bool:
    """Whether a stated toll falls in, or close to, the incident's stated range: evidence, not just no conflict."""
    if dead is None or dead_range is None or dead < TOLL_MATCH_MIN:
        return False
    low, high = dead_range
    slack = max(TOLL_MATCH_SLACK, TOLL_MATCH_SHARE * high)
    return low - slack <= dead <= high + slack


def tolls_disagree(dead: int | None, dead_range: tuple[int, int] | None) -> bool:
    """Whether a stated death toll is far outside what the incident's reports say (4 against 20, 119 against 1)."""
    if dead is None or dead_range is None:
        return False
    low, high = dead_range
    return dead > TOLL_FACTOR * high + TOLL_SLACK or low > TOLL_FACTOR * dead + TOLL_SLACK


def choose_incident(
    report: ReportFacts, candidates: Sequence[IncidentFacts], rules: dict[str, ClusterRule] | None = None
) -> IncidentFacts | None:
    """The incident this report joins: one it quotes, else the nearest compatible one in time and space."""
    # A drill and a real alert are never one event, whatever they say: mixing them would hide a real attack.
    candidates = [c for c in candidates if c.exercise == report.exercise]
    by_ref = {c.ref: c for c in candidates}
    for ref in report.quoted_refs:
        if ref in by_ref:
            return by_ref[ref]
    rule = rule_for(report.category, rules)
    active = [c for c in candidates if compatible(report.category, c.category) and within_window(report, c, rule)]
    # A ring whose circle holds one incident and no toll to compare may join it; with two, it could mean either.
    alone = report.ring_m is not None and len([c for c in active if inside_ring(report, c, rule)]) == 1
    best: tuple[float, IncidentFacts] | None = None
    for incident in active:
        if weakly_placed(report, incident) and not weak_join_agrees(report, incident, alone):
            continue
        d = join_distance_m(report, incident, rule)
        if d is not None and (best is None or d < best[0]):
            best = (d, incident)
    return best[1] if best else None


def inside_ring(report: ReportFacts, incident: IncidentFacts, rule: ClusterRule) -> bool:
    """Whether the incident lies within the disc a ring report circles (its centre town included)."""
    if None in (report.lat, report.lon, incident.lat, incident.lon):
        return False
    d = haversine_m(report.lat, report.lon, incident.lat, incident.lon)  # type: ignore[arg-type]
    return d <= (report.precision_m or 0) + rule.radius_m


def search_box(report: ReportFacts, rules: dict[str, ClusterRule] | None = None) -> tuple[datetime, datetime]:
    """The time range in which candidate incidents must have been active (the query's index range)."""
    window = max([rule_for(report.category, rules).window, *[r.window for r in (rules or RULES).values()]])
    return report.received_at - window, report.received_at + window
