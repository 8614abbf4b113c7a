"""Reports and incidents in the database: create, cluster, aggregate, merge, split, reject. Flushes only."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from app.core.clock import utcnow
from app.feed import events as feed
from app.geo.models import Place
from app.incidents import clustering
from app.incidents.models import Incident, IncidentEvent, Report
from app.intake.models import InboundMessage
from app.intake.schemas import InboundEnvelope
from app.understanding.categorise import PRECEDENCE

SYSTEM = "system"
# The same words from the same sender within this window are a repeat, not a second witness.
REPEAT_WINDOW = timedelta(minutes=30)
# Lifecycle: each status and the ones it may move to. False alarm and resolved are final (merged too).
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"escalated", "acknowledged", "responding", "resolved", "false_alarm"}),
    "escalated": frozenset({"acknowledged", "responding", "resolved", "false_alarm"}),
    "acknowledged": frozenset({"responding", "resolved", "false_alarm", "escalated"}),
    "responding": frozenset({"resolved", "false_alarm"}),
    "resolved": frozenset(),
    "false_alarm": frozenset(),
    "merged": frozenset(),
}
CLOSED = frozenset({"resolved", "false_alarm", "merged"})
# Listed, not negated: "status IN (…)" lets the (status, last_report_at) index jump to recent incidents.
ACTIVE = tuple(sorted(set(TRANSITIONS) - CLOSED))
SEVERITY_RANK = {"extreme": 0, "severe": 1, "moderate": 2, "minor": 3, "unknown": 4}
# Degrees of latitude per metre, for the bounding box of the candidate query.
DEG_PER_M = 1 / 111_320
# An operator's claim on an incident keeps others off it this long; after that it is stale and anyone may take it.
CLAIM_HOLD = timedelta(minutes=30)


class IncidentError(ValueError):
    """An operator action that cannot be done (unknown reference, illegal transition); the message says why."""


class NotFound(IncidentError):
    """No incident or report by that reference or id."""


class Invalid(IncidentError):
    """The request makes no sense whatever the state (merge with itself, split every report)."""


class Conflict(IncidentError):
    """Not possible in the incident's current state (closed, claimed by someone else, a drill and a real one)."""


def create_report(
    *, session: Session, inbound: InboundMessage, envelope: InboundEnvelope, reporter_id: int | None, text_digest: str
) -> Report:
    """Create the report for one inbox row."""
    report = Report(
        inbound_message_id=inbound.id,
        reporter_id=reporter_id,
        partner_id=envelope.partner_id,
        channel=envelope.channel,
        receipt_ref=inbound.receipt_ref,
        body=envelope.body.replace("\x00", ""),  # no SMS can carry a NUL, and PostgreSQL could not store it
        hints=envelope.hints,
        received_at=inbound.received_at,
        created_at=utcnow(),
        text_digest=text_digest,
        exercise=envelope.exercise,
    )
    session.add(report)
    session.flush()
    return report


def get_by_ref(*, session: Session, ref: str) -> Incident:
    """The incident with this reference, or IncidentError."""
    incident = session.scalars(select(Incident).where(Incident.ref == ref.upper())).one_or_none()
    if incident is None:
        raise NotFound(f"no incident {ref}")
    return incident


def find_repeat(*, session: Session, report: Report) -> Report | None:
    """An earlier report with the same sender and the same words, recently: this one only repeats it."""
    if report.reporter_id is None or not report.text_digest:
        return None
    query = (
        select(Report)
        .where(
            Report.reporter_id == report.reporter_id,
            Report.text_digest == report.text_digest,
            Report.id != report.id,
            Report.repeat_of_id.is_(None),
            Report.exercise == report.exercise,  # a drill never folds a real alert away, nor the reverse
            Report.received_at >= report.received_at - REPEAT_WINDOW,
            Report.received_at <= report.received_at,
        )
        .order_by(Report.received_at)
        .limit(1)
    )
    return session.scalars(query).first()


def candidates(*, session: Session, facts: clustering.ReportFacts) -> list[clustering.IncidentFacts]:
    """Open incidents active near this report's time and, when it is located, its place (index range scans)."""
    found: dict[int, Incident] = {}
    if facts.lat is not None and facts.lon is not None:  # an unlocated report can only join by reference
        since, until = clustering.search_box(facts)
        # Wide enough for an incident on a ring around this report's point, or this report on an incident's ring.
        span = (clustering.MAX_JOIN_DISTANCE_M * 1.5 + clustering.MAX_RING_M) * DEG_PER_M
        query = (
            select(Incident)
            .where(
                Incident.status.in_(ACTIVE),
                Incident.exercise == facts.exercise,
                Incident.last_report_at >= since,
                Incident.first_report_at <= until,
                Incident.lat.between(facts.lat - span, facts.lat + span),
                Incident.lon.between(facts.lon - span * 2, facts.lon + span * 2),
            )
            .order_by(Incident.last_report_at.desc())
        )
        found = {i.id: i for i in session.scalars(query.limit(200))}
    if facts.quoted_refs:
        quoted = select(Incident).where(
            Incident.ref.in_(facts.quoted_refs), Incident.status.in_(ACTIVE), Incident.exercise == facts.exercise
        )
        found.update({i.id: i for i in session.scalars(quoted)})
    return [_facts(i) for i in found.values()]


def _facts(incident: Incident) -> clustering.IncidentFacts:
    return clustering.IncidentFacts(
        incident.id, incident.ref, incident.category, incident.lat, incident.lon, incident.precision_m,
        incident.first_report_at, incident.last_report_at, incident.ring_m,
        (incident.dead_min, incident.dead_max) if incident.dead_max is not None else None,  # type: ignore[arg-type]
        incident.exercise,
    )  # fmt: skip


def report_facts(report: Report) -> clustering.ReportFacts:
    """The plain values clustering reads from a report."""
    return clustering.ReportFacts(
        report.category, report.lat, report.lon, report.precision_m, report.received_at,
        clustering.quoted_refs(report.body), report.ring_m, stated_dead(report), report.exercise,
    )  # fmt: skip


def stated_dead(report: Report) -> int | None:
    """The death toll the report's message states, if any."""
    dead = ((report.details or {}).get("counts") or {}).get("dead")
    return dead if isinstance(dead, int) else None


def lock_clustering(session: Session) -> None:
    """Serialise clustering across workers (PostgreSQL): two reports of one event must not both open an incident."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(4821)"))


def new_incident(*, session: Session, report: Report, actor: str = SYSTEM) -> Incident:
    """Open an incident for a report that joins none."""
    now = utcnow()
    for digits in (4, 4, 4, 5, 5, 6, 6, 6):
        ref = f"K-{random.randint(10 ** (digits - 1), 10**digits - 1)}"  # noqa: S311 - a label, not a secret
        incident = Incident(
            ref=ref, category=report.category or "other", severity=report.severity or "unknown", status="open",
            verification="unverified", first_report_at=report.received_at, last_report_at=report.received_at,
            created_at=now, updated_at=now, exercise=report.exercise,
        )  # fmt: skip
        try:
            with session.begin_nested():
                session.add(incident)
                session.flush()
        except IntegrityError:
            continue  # that reference is taken: draw again, longer after a few tries
        record(session=session, incident=incident, kind="created", actor=actor, data={"report_id": report.id})
        return incident
    raise IncidentError("no free incident reference")


def attach(*, session: Session, incident: Incident, reports: Iterable[Report], actor: str = SYSTEM) -> None:
    """Put reports into an incident and bring its summary up to date."""
    for report in reports:
        report.incident_id = incident.id
    session.flush()
    refresh(session=session, incident=incident)


def refresh(*, session: Session, incident: Incident) -> None:
    """Recompute the incident's summary from its live reports (not rejected, not repeats)."""
    live = list(
        session.scalars(
            select(Report).where(
                Report.incident_id == incident.id, Report.rejected_at.is_(None), Report.repeat_of_id.is_(None)
            )
        )
    )
    incident.updated_at = utcnow()
    if not live:
        incident.report_count = incident.reporter_count = 0
        return
    incident.report_count = len(live)
    incident.reporter_count = len({r.reporter_id or -r.id for r in live})
    incident.first_report_at = min(r.received_at for r in live)
    incident.last_report_at = max(r.received_at for r in live)
    incident.category = _category(live)
    incident.severity = min((r.severity or "unknown" for r in live), key=lambda s: SEVERITY_RANK.get(s, 9))
    _combine_location(incident, live)
    tolls = [d for d in map(stated_dead, live) if d is not None]
    incident.dead_min, incident.dead_max = (min(tolls), max(tolls)) if tolls else (None, None)
    # More independent witnesses, more confidence: 0.5 for one, 0.75 for two, 0.875 for three…
    incident.confidence = round(1 - 0.5**incident.reporter_count, 3)


def _category(reports: list[Report]) -> str:
    counts: dict[str, int] = {}
    for report in reports:
        if report.category:
            counts[report.category] = counts.get(report.category, 0) + 1
    if not counts:
        return "other"
    return min(counts, key=lambda c: (-counts[c], PRECEDENCE.get(c, 99)))


def _combine_location(incident: Incident, reports: list[Report]) -> None:
    located = [r for r in reports if r.lat is not None and r.lon is not None and r.precision_m]
    points = [r for r in located if r.ring_m is None]
    if not points:
        _ring_location(incident, located)
        return
    located, incident.ring_m = points, None
    # Inverse-variance weights: a village name counts far more than a sender's home.
    weights = [1 / (r.precision_m**2) for r in located]  # type: ignore[operator]
    total = sum(weights)
    incident.lat = round(sum(w * r.lat for w, r in zip(weights, located, strict=True)) / total, 6)  # type: ignore[misc]
    incident.lon = round(sum(w * r.lon for w, r in zip(weights, located, strict=True)) / total, 6)  # type: ignore[misc]
    best = min(located, key=lambda r: r.precision_m)  # type: ignore[arg-type,return-value]
    incident.precision_m = best.precision_m
    incident.place = _place_name(best)


def _ring_location(incident: Incident, rings: list[Report]) -> None:
    """Only "N km from Y" reports: keep the narrowest circle; averaging circles' centres would mean nothing."""
    if not rings:
        return
    best = min(rings, key=lambda r: r.precision_m - r.ring_m)  # type: ignore[operator]
    incident.lat, incident.lon, incident.precision_m = best.lat, best.lon, best.precision_m
    incident.ring_m = best.ring_m
    incident.place = _place_name(best)


def _place_name(report: Report) -> str | None:
    """The gazetteer's name for where the best report puts it ("Bambari", not the sender's "bamabri")."""
    if report.location_method == "reporter_home":
        return None
    if report.location_place_id is not None:
        session = object_session(report)
        assert session is not None
        with session.no_autoflush:  # a place is never among the changes pending: no flush for it
            place = session.get(Place, report.location_place_id)
        if place is not None:
            return place.name
    return report.location_place or report.location_text or None


def record(
    *, session: Session, incident: Incident, kind: str, actor: str, data: dict[str, Any] | None = None
) -> IncidentEvent:
    """Add a timeline line and publish it to the feed (public facts only: never the line's data)."""
    event = IncidentEvent(incident_id=incident.id, at=utcnow(), kind=kind, actor=actor, data=data or {})
    session.add(event)
    data = {"status": incident.status, "category": incident.category, "exercise": incident.exercise}
    feed.publish(session, feed.FeedEvent(f"incident.{kind}", incident.ref, data))
    return event


def cluster_report(*, session: Session, report: Report) -> Incident | None:
    """Fold a repeat into its original, or put the report into the incident it belongs to, or open one."""
    if (
        report.channel == "voice"
        or report.category is None
        or (report.category == "other" and (report.details or {}).get("negated"))
    ):
        return None  # beeps (call-back tasks instead), reply codes and calm reports are not incidents
    lock_clustering(session)
    original = find_repeat(session=session, report=report)
    if original is not None:
        report.repeat_of_id = original.id
        report.incident_id = original.incident_id
        return None
    facts = report_facts(report)
    chosen = clustering.choose_incident(facts, candidates(session=session, facts=facts))
    incident = session.get(Incident, chosen.id) if chosen else new_incident(session=session, report=report)
    assert incident is not None
    attach(session=session, incident=incident, reports=[report])
    if chosen is not None:
        record(session=session, incident=incident, kind="report_added", actor=SYSTEM, data={"report_id": report.id})
        eject_contradicted(session=session, incident=incident, newcomer=report)
    return incident


def eject_contradicted(*, session: Session, incident: Incident, newcomer: Report) -> Incident | None:
    """Members that joined on weak place evidence and whose toll a well-placed newcomer contradicts, split out."""
    facts = report_facts(newcomer)
    if facts.dead is None or clustering.weak_place(facts):
        return None
    members = session.scalars(
        select(Report).where(
            Report.incident_id == incident.id, Report.id != newcomer.id,
            Report.rejected_at.is_(None), Report.repeat_of_id.is_(None),
        )
    )  # fmt: skip
    said = (facts.dead, facts.dead)
    weak = [m for m in members if clustering.weak_place(report_facts(m))]
    contradicted = [m.id for m in weak if clustering.tolls_disagree(stated_dead(m), said)]
    if not contradicted:
        return None
    return split(session=session, ref=incident.ref, report_ids=contradicted, actor=SYSTEM)


def set_status(*, session: Session, ref: str, status: str, actor: str, note: str | None = None) -> Incident:
    """Move an incident along its lifecycle; illegal moves raise IncidentError."""
    return change_status(
        session=session, incident=get_by_ref(session=session, ref=ref), status=status, actor=actor, note=note
    )


def change_status(
    *, session: Session, incident: Incident, status: str, actor: str, note: str | None = None
) -> Incident:
    """set_status for an incident already loaded."""
    if status not in TRANSITIONS.get(incident.status, frozenset()):
        raise Conflict(f"{incident.ref} is {incident.status}; it cannot become {status}")
    before, incident.status, incident.updated_at = incident.status, status, utcnow()
    record(
        session=session,
        incident=incident,
        kind="status",
        actor=actor,
        data={"from": before, "to": status, "note": note},
    )
    return incident


def merge(*, session: Session, keep_ref: str, absorb_ref: str, actor: str) -> Incident:
    """Move every report of `absorb_ref` into `keep_ref`; the absorbed incident is closed as merged."""
    keep, absorb = get_by_ref(session=session, ref=keep_ref), get_by_ref(session=session, ref=absorb_ref)
    if keep.id == absorb.id:
        raise Invalid(f"merge needs two different open incidents, not {keep.ref} twice")
    if keep.status in CLOSED or absorb.status in CLOSED:
        raise Conflict(f"merge needs two different open incidents: {keep.ref} is {keep.status}, "
                       f"{absorb.ref} is {absorb.status}")  # fmt: skip
    if keep.exercise != absorb.exercise:
        raise Conflict("an exercise and a real incident are never merged")
    moved = list(session.scalars(select(Report).where(Report.incident_id == absorb.id)))
    attach(session=session, incident=keep, reports=moved)
    absorb.status, absorb.merged_into_id, absorb.updated_at = "merged", keep.id, utcnow()
    refresh(session=session, incident=absorb)
    record(
        session=session, incident=keep, kind="merged", actor=actor, data={"absorbed": absorb.ref, "reports": len(moved)}
    )
    record(session=session, incident=absorb, kind="merged", actor=actor, data={"into": keep.ref})
    return keep


def split(*, session: Session, ref: str, report_ids: list[int], actor: str) -> Incident:
    """Move some reports of an incident into a new incident of their own."""
    source = get_by_ref(session=session, ref=ref)
    if source.status in CLOSED:
        raise Conflict(f"{source.ref} is {source.status}: nothing to split")
    reports = list(session.scalars(select(Report).where(Report.id.in_(report_ids), Report.incident_id == source.id)))
    remaining = session.scalar(select(func.count()).where(Report.incident_id == source.id)) or 0
    if len(reports) != len(set(report_ids)) or not reports or len(reports) >= remaining:
        raise Invalid("split takes some, not all, of the incident's own reports")
    first = min(reports, key=lambda r: r.received_at)
    target = new_incident(session=session, report=first, actor=actor)
    attach(session=session, incident=target, reports=reports)
    refresh(session=session, incident=source)
    record(session=session, incident=source, kind="split", actor=actor, data={"to": target.ref, "reports": report_ids})
    record(session=session, incident=target, kind="split", actor=actor, data={"from": source.ref})
    return target


def reject_report(*, session: Session, report_id: int, actor: str, reason: str | None = None) -> Incident | None:
    """Mark a report false and re-evaluate its incident; an incident left with no live report is a false alarm."""
    report = session.get(Report, report_id)
    if report is None:
        raise NotFound(f"no report {report_id}")
    if report.rejected_at is not None:
        raise Conflict(f"report {report_id} is already rejected")
    report.rejected_at = utcnow()
    if report.incident_id is None:
        return None
    incident = session.get(Incident, report.incident_id)
    assert incident is not None
    refresh(session=session, incident=incident)
    record(
        session=session,
        incident=incident,
        kind="report_rejected",
        actor=actor,
        data={"report_id": report_id, "reason": reason},
    )
    if incident.report_count == 0 and incident.status not in CLOSED:
        before, incident.status = incident.status, "false_alarm"
        record(
            session=session, incident=incident, kind="status", actor=actor, data={"from": before, "to": "false_alarm"}
        )
    return incident


def add_note(*, session: Session, incident: Incident, actor: str, text: str) -> IncidentEvent:
    """Put an operator's note on the timeline (operators' words: on the timeline, never in the feed)."""
    return record(session=session, incident=incident, kind="note", actor=actor, data={"text": text})


def claim(*, session: Session, incident: Incident, actor: str, force: bool = False) -> None:
    """Mark the operator as the one on it; another operator's claim younger than CLAIM_HOLD wins unless forced."""
    session.refresh(incident, with_for_update=True)  # two operators claiming at once: one waits for the other
    if incident.status in CLOSED:
        raise Conflict(f"{incident.ref} is {incident.status}: nobody needs to be on it")
    now, holder = utcnow(), incident.claimed_by
    live = holder not in (None, actor) and incident.claimed_at is not None and now - incident.claimed_at < CLAIM_HOLD
    if live and not force:
        raise Conflict(f"{incident.ref} is claimed by {holder} since {incident.claimed_at:%H:%M} UTC")
    incident.claimed_by, incident.claimed_at = actor, now
    taken_from = {"from": holder} if holder not in (None, actor) else {}
    record(session=session, incident=incident, kind="claimed", actor=actor, data={"force": force, **taken_from})


def release(*, session: Session, incident: Incident, actor: str) -> None:
    """Take the claim off the incident (anyone may: a claim is coordination, not a lock); no claim, no line."""
    session.refresh(incident, with_for_update=True)
    if incident.claimed_by is None:
        return
    holder, incident.claimed_by, incident.claimed_at = incident.claimed_by, None, None
    record(session=session, incident=incident, kind="released", actor=actor, data={"holder": holder})
