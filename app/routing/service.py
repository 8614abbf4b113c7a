"""Routing on the stored road network: import, closures, and ranking units for an incident."""

from __future__ import annotations

import threading
from datetime import datetime

import numpy as np
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from app.core.clock import utcnow
from app.routing.graph import RoadGraph, haversine_m_array
from app.routing.models import RoadClosure, RoadSegmentRow
from app.routing.ranking import DEFAULT_PARAMS, MOBILITIES, RankingParams, UnitRanking, rank_units
from app.routing.roads import RoadImport, RoadImportError, RoadSegment, load_roads
from app.units import service as units

KEY_LENGTH = 100  # road_segment.key, road_closure.segment_key
# Units routed first when only the best few matter; more are routed only if they could still beat those.
PREFILTER = 40


class RoutingError(ValueError):
    """A routing request that cannot be done (an unknown segment, say); the message says why."""


class GraphCache:
    """One road graph per process, rebuilt only when the stored network changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: tuple | None = None
        self._graph: RoadGraph | None = None

    def get(self, session: Session) -> RoadGraph | None:
        """The graph of the stored network, or None when no network is loaded."""
        stamp = select(func.count(RoadSegmentRow.id), func.max(RoadSegmentRow.imported_at))
        version = tuple(session.execute(stamp).one())
        with self._lock:
            if version != self._version:
                rows = session.scalars(select(RoadSegmentRow).order_by(RoadSegmentRow.id)).all()
                segments = [RoadSegment(r.key, r.name, r.road_class, r.speed_kmh, tuple(map(tuple, r.coords)))
                            for r in rows]  # fmt: skip
                self._graph = RoadGraph.build(segments) if segments else None
                self._version = version
            return self._graph

    def clear(self) -> None:
        """Forget the graph (tests, and after a purge)."""
        with self._lock:
            self._version, self._graph = None, None


graphs = GraphCache()


def import_roads(*, session: Session, raw: bytes | str) -> RoadImport:
    """Replace the stored network with a GeoJSON file's lines; RoadImportError names a bad feature."""
    parsed = load_roads(raw)
    too_long = next((s.key for s in parsed.segments if len(s.key) > KEY_LENGTH), None)
    if too_long is not None:
        raise RoadImportError(f"segment id {too_long[:40]!r}…: ids are at most {KEY_LENGTH} characters")
    session.execute(delete(RoadSegmentRow))
    now, parts = utcnow(), {}
    for segment in parsed.segments:
        parts[segment.key] = parts.get(segment.key, -1) + 1
        session.add(RoadSegmentRow(
            key=segment.key, part=parts[segment.key], name=(segment.name or "")[:200] or None,
            road_class=segment.road_class[:32],
            speed_kmh=segment.speed_kmh, coords=[list(c) for c in segment.coords], imported_at=now,
        ))  # fmt: skip
    session.flush()
    return parsed


def close_segment(
    *, session: Session, key: str, reason: str, actor: str, expires_at: datetime | None = None
) -> RoadClosure:
    """Close a road segment (every part of it) until reopened or until it expires."""
    if not session.scalar(select(func.count()).where(RoadSegmentRow.key == key)):
        raise RoutingError(f"no road segment {key!r}")
    closure = RoadClosure(
        segment_key=key, reason=reason[:200], closed_at=utcnow(), closed_by=actor[:64], expires_at=expires_at
    )
    session.add(closure)
    session.flush()
    return closure


def reopen_segment(*, session: Session, key: str, actor: str) -> int:
    """Reopen a segment; returns how many closures ended."""
    still_closed = RoadClosure.segment_key == key, RoadClosure.reopened_at.is_(None)
    open_ones = session.scalars(select(RoadClosure).where(*still_closed))
    count = 0
    for closure in open_ones:
        closure.reopened_at, closure.reopened_by, count = utcnow(), actor[:64], count + 1
    return count


def closed_keys(*, session: Session, now: datetime | None = None) -> frozenset[str]:
    """Segments closed now: not reopened and not expired."""
    now = now or utcnow()
    query = select(RoadClosure.segment_key).where(
        RoadClosure.reopened_at.is_(None), or_(RoadClosure.expires_at.is_(None), RoadClosure.expires_at > now)
    )
    return frozenset(session.scalars(query))


def rank_for(
    *,
    session: Session,
    lat: float,
    lon: float,
    kinds: list[str] | None = None,
    params: RankingParams = DEFAULT_PARAMS,
    best: int | None = None,
) -> list[UnitRanking]:
    """Available units of these kinds ranked by ETA to (lat, lon), over the stored network and its closures.

    With `best`, only the first `best` places must be right: units that cannot beat them are not routed at all.
    """
    graph = graphs.get(session)
    closed = closed_keys(session=session) if graph is not None else frozenset()
    pool = units.unit_cache.get(session)
    index = pool.select(kinds, available_only=True)
    if best is None or len(index) <= PREFILTER:
        return rank_units(lat, lon, [pool.units[i] for i in index], graph, closed, params)
    # Route the units with the smallest lower bound on their ETA, then any other that could still beat the
    # `best`-th result: the top `best` are exactly what routing them all would give.
    bound = eta_lower_bounds(lat, lon, pool, index, params, graph.max_speed_kmh if graph is not None else 0.0)
    order = index[np.argsort(bound, kind="stable")]
    bound = np.sort(bound, kind="stable")
    chosen = [pool.units[i] for i in order[:PREFILTER]]
    ranked = rank_units(lat, lon, chosen, graph, closed, params)
    etas = sorted(r.eta_s for r in ranked if r.eta_s is not None)
    cutoff = etas[best - 1] if len(etas) >= best else np.inf
    more = [pool.units[i] for i in order[PREFILTER:][bound[PREFILTER:] <= cutoff]]
    return rank_units(lat, lon, chosen + more, graph, closed, params) if more else ranked


def eta_lower_bounds(
    lat: float, lon: float, pool: units.UnitPool, index: np.ndarray, params: RankingParams, road_max_kmh: float
) -> np.ndarray:
    """Seconds no route can beat: the straight line at the fastest speed the unit could ever move."""
    distance_m = haversine_m_array(pool.lat[index], pool.lon[index], lat, lon)
    mobility = pool.mobility[index]
    usual = np.array([params.default_speed_kmh[m] for m in MOBILITIES])[mobility]
    off_road = np.array([params.off_road_speed_kmh.get(m, 0.0) for m in MOBILITIES])[mobility]
    fastest = np.maximum(np.maximum(pool.own_speed_kmh[index], usual), np.maximum(off_road, road_max_kmh))
    takeoff = np.where(mobility == MOBILITIES.index("helicopter"), params.helicopter_takeoff_minutes * 60, 0.0)
    return takeoff + distance_m / (fastest / 3.6)
