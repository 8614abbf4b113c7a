"""The pipeline step that understands and locates each new report, with a per-process parser cache."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.geo.gazetteer import Gazetteer
from app.geo.locate import Location
from app.geo.models import Place, PlaceName
from app.incidents.models import Report
from app.reporters.models import Reporter
from app.understanding.service import MessageParser, ParseResult, ReporterContext

# How often the worker checks whether the gazetteer changed (an import, an admin edit).
GAZETTEER_CHECK_SECONDS = 30.0
RECENT_WINDOW = timedelta(hours=72)
RECENT_LIMIT = 50


class ParserCache:
    """One MessageParser per process, rebuilt when the places or names in the database change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parser: MessageParser | None = None
        self._version: tuple[int, ...] | None = None
        self._checked_at = 0.0

    def get(self, session: Session) -> MessageParser:
        """The parser for the current gazetteer; loads it on first use and after changes."""
        with self._lock:
            if self._parser is None or time.monotonic() - self._checked_at > GAZETTEER_CHECK_SECONDS:
                version = self._gazetteer_version(session)
                if self._parser is None or version != self._version:
                    self._parser = MessageParser(Gazetteer.from_session(session))
                    self._version = version
                self._checked_at = time.monotonic()
            return self._parser

    def clear(self) -> None:
        """Forget the parser (tests, and after a bulk import in this process)."""
        with self._lock:
            self._parser = None

    @staticmethod
    def _gazetteer_version(session: Session) -> tuple[int, ...]:
        places = session.execute(select(func.count(Place.id), func.coalesce(func.max(Place.id), 0))).one()
        names = session.execute(select(func.count(PlaceName.id), func.coalesce(func.max(PlaceName.id), 0))).one()
        return (*places, *names)


parsers = ParserCache()


def recent_positions(session: Session, report: Report) -> tuple[tuple[float, float], ...]:
    """Where recent reports were located: an ambiguous place name is most likely the one near current events."""
    rows = session.execute(
        select(Report.lat, Report.lon)
        .where(
            Report.received_at >= report.received_at - RECENT_WINDOW,
            Report.id != report.id,
            Report.lat.is_not(None),
            Report.ring_m.is_(None),  # a ring's centre is a landmark, not where things happen
            Report.location_method.in_(("coordinates", "gazetteer", "relative", "axis", "partner")),
        )
        .order_by(Report.received_at.desc())
        .limit(RECENT_LIMIT)
    )
    return tuple((lat, lon) for lat, lon in rows)


def context_for(reporter: Reporter | None, recent: tuple[tuple[float, float], ...] = ()) -> ReporterContext:
    """The parser's view of a reporter: kind, preferred language, registered home."""
    if reporter is None:
        return ReporterContext(recent=recent)
    has_home = reporter.home_lat is not None and reporter.home_lon is not None
    return ReporterContext(
        kind=reporter.kind,
        language=reporter.language,
        home=(reporter.home_lat, reporter.home_lon) if has_home else None,  # type: ignore[arg-type]
        home_place=reporter.home_place,
        recent=recent,
    )


def reporter_context(session: Session, report: Report) -> ReporterContext:
    """What the sender's record and recent events tell the parser: kind, language, home, recent positions."""
    reporter = session.get(Reporter, report.reporter_id) if report.reporter_id is not None else None
    return context_for(reporter, recent_positions(session, report))


def understand_report(session: Session, report: Report) -> None:
    """Pipeline step: fill the report's language, category, severity, details and location."""
    parser = parsers.get(session)
    context = reporter_context(session, report)
    result = parser.parse(report.body, reporter=context)
    location = _partner_location(report) or _partner_place(parser, report, context) or result.location
    apply(report, result, location)


def _partner_location(report: Report) -> Location | None:
    """Coordinates a partner sent with the report beat anything read from the text."""
    given = (report.hints or {}).get("location")
    if not given:
        return None
    return Location(given["lat"], given["lon"], given.get("precision_m") or 1000.0, "partner", confidence=0.8)


def _partner_place(parser: MessageParser, report: Report, context: ReporterContext) -> Location | None:
    """A place name a partner sent separately is located on its own, before the text is searched."""
    place_name = (report.hints or {}).get("place_name")
    if not place_name:
        return None
    location = parser.parse(place_name, reporter=ReporterContext(language=context.language)).location
    return location if location.method not in ("unlocated", "reporter_home") else None


def apply(report: Report, result: ParseResult, location: Location) -> None:
    """Copy a parse result onto the report."""
    understanding = result.understanding
    report.language = understanding.language
    report.category = understanding.category
    report.severity = understanding.severity
    report.details = understanding.details()
    report.understood_at = utcnow()
    report.lat, report.lon, report.precision_m = location.lat, location.lon, location.precision_m
    report.location_method = location.method
    report.location_place_id = location.place_id if location.place_id and location.place_id > 0 else None
    report.location_text = (location.matched_text or "")[:200] or None
    report.location_place = (location.place or "")[:200] or None
    report.location_confidence = location.confidence
    report.ring_m = location.ring_m
