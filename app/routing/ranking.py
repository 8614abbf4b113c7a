"""Rank available units by estimated time to reach a target: by road when a graph is loaded, else straight (pure)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import compress
from operator import attrgetter
from typing import Literal

import numpy as np

from app.routing.graph import LENGTH, TIME, GraphView, Profile, Reach, RoadGraph, haversine_m_array

Mobility = Literal["foot", "vehicle", "boat", "helicopter"]
Method = Literal["road", "great_circle", "air"]
MOBILITIES: tuple[str, ...] = ("foot", "vehicle", "boat", "helicopter")
FOOT, VEHICLE, BOAT, HELICOPTER = range(4)
AVAILABLE = "available"
KMH = 3.6  # km/h per m/s
OFF_ROAD_SHOWN_M = 50.0  # shorter off-road legs are snapping noise, not worth a clause in the explanation
VIA_SHOWN = 3  # road names listed in an explanation before "and N more"
# Formatted distances up to 20,000 km and durations up to a week are looked up, not formatted one by one:
# at 10,000 units string formatting was the slowest part of a ranking.
TABLE_KM = 20_000
TABLE_MINUTES = 7 * 24 * 60
_CODES = {name: code for code, name in enumerate(MOBILITIES)}
_ID, _NAME, _LAT, _LON, _MOBILITY, _SPEED, _STATUS = map(
    attrgetter, ("unit_id", "name", "lat", "lon", "mobility", "speed_kmh", "status")
)


def _default_speeds() -> dict[str, float]:
    return {"foot": 4.0, "vehicle": 40.0, "boat": 15.0, "helicopter": 180.0}


def _default_off_road() -> dict[str, float]:
    # Only units that use roads leave them; boats and helicopters never do.
    return {"foot": 4.0, "vehicle": 10.0}


@dataclass(frozen=True, slots=True)
class UnitCandidate:
    """A unit that might respond: where it is, how it moves, its own speed (None: the default) and its status."""

    unit_id: int | str
    name: str
    lat: float
    lon: float
    mobility: Mobility
    speed_kmh: float | None
    status: str

    def __post_init__(self) -> None:
        if self.mobility not in MOBILITIES:
            raise ValueError(f"unit {self.unit_id!r}: mobility {self.mobility!r} is not one of {', '.join(MOBILITIES)}")
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError(f"unit {self.unit_id!r}: ({self.lat}, {self.lon}) is not a position")
        if self.speed_kmh is not None and not (math.isfinite(self.speed_kmh) and self.speed_kmh > 0):
            raise ValueError(f"unit {self.unit_id!r}: speed_kmh must be a positive number, not {self.speed_kmh!r}")


@dataclass(frozen=True)
class RankingParams:
    """Tuning for rank_units; speeds are km/h."""

    # Straight-line estimates (no road network, boats) multiply the great-circle distance by this.
    detour_factor: float = 1.4
    # A unit's speed when it has none of its own. On roads vehicles drive at each segment's speed instead,
    # capped by their own speed only when they have one.
    default_speed_kmh: Mapping[str, float] = field(default_factory=_default_speeds)
    # Speed between a point and its nearest road node (the unit's own speed when lower).
    off_road_speed_kmh: Mapping[str, float] = field(default_factory=_default_off_road)
    helicopter_takeoff_minutes: float = 20.0
    # Routes and closed_avoided are reconstructed for this many top results only: it keeps 10,000 units fast.
    detail_count: int = 5
    # Vehicle speed caps are rounded down to this step: each distinct cap costs one more Dijkstra.
    speed_cap_step_kmh: float = 5.0

    def __post_init__(self) -> None:
        if not self.detour_factor >= 1:
            raise ValueError("detour_factor must be at least 1")
        for mobility in MOBILITIES:
            if not self.default_speed_kmh.get(mobility, 0) > 0:
                raise ValueError(f"default_speed_kmh needs a positive speed for {mobility}")
        for mobility in ("foot", "vehicle"):
            if not self.off_road_speed_kmh.get(mobility, 0) > 0:
                raise ValueError(f"off_road_speed_kmh needs a positive speed for {mobility}")
        if self.helicopter_takeoff_minutes < 0 or self.detail_count < 0 or not self.speed_cap_step_kmh > 0:
            raise ValueError("helicopter_takeoff_minutes and detail_count must be >= 0, speed_cap_step_kmh > 0")


DEFAULT_PARAMS = RankingParams()


@dataclass(slots=True)
class UnitRanking:
    """One unit's estimate: eta_s and distance_m are None when it cannot reach the target."""

    unit_id: int | str
    name: str
    eta_s: float | None
    distance_m: float | None
    method: Method
    explanation: str
    # Tuples, not lists: one shared empty tuple instead of two new lists per unit halves the garbage collector's
    # work at 10,000 units.
    route: tuple[str, ...] = ()  # road names used, in order: top results only
    closed_avoided: tuple[str, ...] = ()  # keys of closed segments the unit's open-road route avoids


def rank_units(
    target_lat: float,
    target_lon: float,
    units: Iterable[UnitCandidate],
    graph: RoadGraph | None = None,
    closed: frozenset[str] = frozenset(),
    params: RankingParams = DEFAULT_PARAMS,
) -> list[UnitRanking]:
    """Available units, fastest first (unreachable last, ETA None), each with a one-sentence explanation."""
    units = list(units)
    batch = _Batch(list(compress(units, map(AVAILABLE.__eq__, map(_STATUS, units)))), params)
    if batch.n == 0:
        return []
    no_graph = graph is None or graph.edge_count == 0
    est = _Estimates(batch, target_lat, target_lon)
    est.straight(params, no_graph=no_graph)
    est.air(params)
    road: _RoadLegs | None = None
    if graph is not None and not no_graph and len(batch.road_units):
        road = _RoadLegs(graph.with_closures(closed), batch, target_lat, target_lon, params)
        est.apply_road(road)
    order = np.argsort(np.where(np.isnan(est.eta), np.inf, est.eta), kind="stable")
    if road is not None:
        road.add_details(order[: params.detail_count], est)
    return est.rankings(order, road)


class _Batch:
    """Available units as numpy columns (read with C-level map: a Python loop per column costs milliseconds)."""

    def __init__(self, units: Sequence[UnitCandidate], params: RankingParams) -> None:
        self.units = units
        self.n = n = len(units)
        self.lat = np.fromiter(map(_LAT, units), float, n)
        self.lon = np.fromiter(map(_LON, units), float, n)
        self.mobility = np.fromiter(map(_CODES.__getitem__, map(_MOBILITY, units)), np.int8, n)
        self.own_speed = np.array(list(map(_SPEED, units)), dtype=float).reshape(n)  # None becomes nan
        defaults = np.array([params.default_speed_kmh[m] for m in MOBILITIES])
        self.speed = np.where(np.isnan(self.own_speed), defaults[self.mobility], self.own_speed)
        self.road_units = np.flatnonzero(self.mobility <= VEHICLE)


class _Estimates:
    """ETA, distance, method and explanation per unit, filled in by method."""

    def __init__(self, batch: _Batch, target_lat: float, target_lon: float) -> None:
        self.batch = batch
        self.straight_m = haversine_m_array(target_lat, target_lon, batch.lat, batch.lon)
        self.eta = np.full(batch.n, np.nan)
        self.dist = np.full(batch.n, np.nan)
        # Object arrays: texts and methods are set and reordered by index in C, not in a Python loop.
        self.method = np.full(batch.n, "great_circle", dtype=object)
        self.explanation = np.full(batch.n, "", dtype=object)

    def straight(self, params: RankingParams, *, no_graph: bool) -> None:
        """Boats always, foot and vehicle units only without a road network: straight line times the detour factor."""
        b = self.batch
        idx = np.flatnonzero((b.mobility == BOAT) | ((b.mobility <= VEHICLE) & no_graph))
        self.dist[idx] = self.straight_m[idx] * params.detour_factor
        self.eta[idx] = self.dist[idx] / (b.speed[idx] / KMH)
        texts = _straight_texts(b.mobility[idx], self.straight_m[idx], b.speed[idx], self.eta[idx], params)
        self.explanation[idx] = texts

    def air(self, params: RankingParams) -> None:
        """Helicopters fly the great circle, after taking off."""
        b = self.batch
        idx = np.flatnonzero(b.mobility == HELICOPTER)
        takeoff_s = params.helicopter_takeoff_minutes * 60
        self.dist[idx] = self.straight_m[idx]
        self.eta[idx] = takeoff_s + self.straight_m[idx] / (b.speed[idx] / KMH)
        takeoff = _duration(takeoff_s)
        texts = [
            f"{dist} by air at {_kmh(speed)} km/h plus {takeoff} to take off: {eta}"
            for dist, speed, eta in zip(
                _distances(self.dist[idx]), b.speed[idx].tolist(), _durations(self.eta[idx]), strict=True
            )
        ]
        self.explanation[idx] = texts
        self.method[idx] = "air"

    def apply_road(self, road: _RoadLegs) -> None:
        """Copy the road estimates of foot and vehicle units."""
        self.eta[road.idx] = road.eta
        self.dist[road.idx] = road.total_m
        self.explanation[road.idx] = road.explanations()
        self.method[road.idx] = "road"

    def rankings(self, order: np.ndarray, road: _RoadLegs | None) -> list[UnitRanking]:
        """UnitRanking objects in rank order; routes and closures on the detailed ones."""
        units = [self.batch.units[i] for i in order.tolist()]
        reached = int(np.count_nonzero(~np.isnan(self.eta)))  # unreachable units (NaN) are sorted last
        eta = self.eta[order[:reached]].tolist() + [None] * (len(order) - reached)
        dist = self.dist[order[:reached]].tolist() + [None] * (len(order) - reached)
        method, explanation = self.method[order].tolist(), self.explanation[order].tolist()
        out = list(map(UnitRanking, map(_ID, units), map(_NAME, units), eta, dist, method, explanation))
        if road is not None:
            rank_of = np.empty_like(order)
            rank_of[order] = np.arange(len(order))
            for i, labels in road.route.items():
                out[rank_of[i]].route = tuple(labels)
            for i, keys in road.avoided_keys.items():
                out[rank_of[i]].closed_avoided = tuple(keys)
        return out


class _RoadLegs:
    """Road estimates for foot and vehicle units: one Dijkstra from the target per weight profile."""

    def __init__(self, view: GraphView, batch: _Batch, lat: float, lon: float, params: RankingParams) -> None:
        self.view, self.graph, self.params = view, view.graph, params
        self.target_lat, self.target_lon = lat, lon
        self.idx = idx = batch.road_units
        self.lat, self.lon = batch.lat[idx], batch.lon[idx]
        self.mobility, self.speed = batch.mobility[idx], batch.speed[idx]
        self.target = view.snap(lat, lon)
        self.snap = view.snap(self.lat, self.lon)
        off_defaults = np.array([params.off_road_speed_kmh["foot"], params.off_road_speed_kmh["vehicle"]])
        self.off_speed = np.minimum(off_defaults[self.mobility], self.speed)
        self.profiles, self.profile_of = _profiles(
            self.mobility, batch.own_speed[idx], self.graph.max_speed_kmh, params.speed_cap_step_kmh
        )
        self.off_m = self.snap.off_road_m + self.target.off_road_m[0]
        self.road_m = np.full(len(idx), np.inf)
        road_s = np.full(len(idx), np.inf)
        self.trees: dict[int, Reach] = {}
        if self.target.node[0] >= 0:
            for code in range(len(self.profiles)):
                self._route_profile(code, road_s)
        self.eta = road_s + self.off_m / (self.off_speed / KMH)
        self.eta[~np.isfinite(self.eta)] = np.nan
        self.total_m = np.where(np.isnan(self.eta), np.nan, self.road_m + self.off_m)
        self.detailed: list[int] = []  # positions (in idx) of road units among the top results
        self.route: dict[int, list[str]] = {}  # by unit index in the batch, like the two below
        self.avoided_keys: dict[int, list[str]] = {}
        self.avoided_labels: dict[int, list[str]] = {}
        self.cut_off: dict[int, bool] = {}

    def _route_profile(self, code: int, road_s: np.ndarray) -> None:
        sel = np.flatnonzero(self.profile_of == code)
        nodes = self.snap.node[sel]
        profile = self.profiles[code]
        reach = self.trees[code] = self.view.reach(int(self.target.node[0]), profile)
        if profile.metric == "length":
            self.road_m[sel], _ = reach.cost(nodes)
            road_s[sel] = self.road_m[sel] / (self.speed[sel] / KMH)
        else:
            road_s[sel], self.road_m[sel] = reach.cost(nodes, with_length=True)

    def add_details(self, top: np.ndarray, est: _Estimates) -> None:
        """Routes and closures for the top results; closure causes for units cut off by closures."""
        position = {int(i): k for k, i in enumerate(self.idx.tolist())}
        self.detailed = [position[i] for i in top.tolist() if i in position]
        for k in self.detailed:
            if np.isfinite(self.eta[k]):
                segs = self.trees[int(self.profile_of[k])].path_segments(int(self.snap.node[k]))
                self.route[int(self.idx[k])] = _labels(self.graph, segs)
        redo = set(self.detailed)
        if self.view.closed:
            redo |= self._closure_details()
        for k in sorted(redo):
            est.explanation[int(self.idx[k])] = self._explain(k)

    def _closure_details(self) -> set[int]:
        """Closed segments on the no-closure route of detailed units, and which unreachable units closures cut off."""
        full = self.graph.with_closures()
        target = int(full.snap(self.target_lat, self.target_lon).node[0])
        unreachable = np.flatnonzero(np.isnan(self.eta))
        shown = set(self.detailed) | set(unreachable[: self.params.detail_count].tolist())
        ks = np.array(sorted(shown | set(unreachable.tolist())), dtype=np.int64)
        if len(ks) == 0:
            return set()
        nodes = full.snap(self.lat[ks], self.lon[ks]).node
        for k in unreachable.tolist():
            self.cut_off[int(self.idx[k])] = False
        cut = full.component(nodes) == full.component(np.array([target]))[0]
        trees: dict[int, Reach] = {}
        for k, node, connected in zip(ks.tolist(), nodes.tolist(), cut.tolist(), strict=True):
            i = int(self.idx[k])
            if i in self.cut_off:
                self.cut_off[i] = connected
            if k not in shown:
                continue
            code = int(self.profile_of[k])
            if code not in trees:
                trees[code] = full.reach(target, self.profiles[code])
            closed = [s for s in trees[code].path_segments(node) if self.graph.segments[s].key in self.view.closed]
            self.avoided_keys[i] = list(dict.fromkeys(self.graph.segments[s].key for s in closed))
            self.avoided_labels[i] = _labels(self.graph, closed)
        return set(unreachable.tolist()) | shown

    def explanations(self) -> list[str]:
        """A sentence per road unit, in idx order (routes are added later for the top results only)."""
        reachable = ~np.isnan(self.eta)
        shown = self.off_m >= OFF_ROAD_SHOWN_M
        hows, how_of = self._hows(shown)
        off_texts = _distances(np.where(reachable, self.off_m, 0.0))
        plus = [f" plus {text} off-road" if show else "" for text, show in zip(off_texts, shown.tolist(), strict=True)]
        out = [
            f"{road} by road{extra}: {duration} {hows[how]}"
            for road, extra, duration, how in zip(
                _distances(np.where(reachable, self.road_m, 0.0)),
                plus,
                _durations(np.where(reachable, self.eta, 0.0)),
                how_of.tolist(),
                strict=True,
            )
        ]
        for k in np.flatnonzero(reachable & (self.road_m < 1)).tolist():
            out[k] = _explain_road(0.0, float(self.off_m[k]), float(self.eta[k]), hows[how_of[k]], [], [])
        for k in np.flatnonzero(~reachable).tolist():
            out[k] = self._explain_unreachable(k)
        return out

    def _hows(self, shown: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Distinct "how" clauses (mode, speeds) and the clause of each unit: a few dozen at most."""
        _, speed_code = np.unique(self.speed, return_inverse=True)
        key = (self.profile_of * 2 + shown) * (int(speed_code.max(initial=0)) + 1) + speed_code.reshape(-1)
        _, first, how_of = np.unique(key, return_index=True, return_inverse=True)
        caps = [p.cap_kmh for p in self.profiles]
        hows = [
            _how(int(self.mobility[k]), float(self.speed[k]), caps[self.profile_of[k]], self.off_speed[k], shown[k])
            for k in first.tolist()
        ]
        return hows, how_of.reshape(-1)

    def _explain(self, k: int) -> str:
        if np.isnan(self.eta[k]):
            return self._explain_unreachable(k)
        i, off = int(self.idx[k]), float(self.off_m[k])
        cap = self.profiles[int(self.profile_of[k])].cap_kmh
        how = _how(int(self.mobility[k]), float(self.speed[k]), cap, float(self.off_speed[k]), off >= OFF_ROAD_SHOWN_M)
        route, avoid = self.route.get(i, []), self.avoided_labels.get(i, [])
        return _explain_road(float(self.road_m[k]), off, float(self.eta[k]), how, route, avoid)

    def _explain_unreachable(self, k: int) -> str:
        if self.target.node[0] < 0:
            return "no open road: every road segment is closed"
        i = int(self.idx[k])
        causes = self.avoided_labels.get(i, [])
        if causes:
            return f"no open road connects the unit to the target: closed {_segments(causes)} cuts it off"
        if self.cut_off.get(i):
            return "no open road connects the unit to the target: road closures cut it off"
        return (
            f"no open road connects the unit to the target: their nearest roads "
            f"({_distance(self.snap.off_road_m[k])} and {_distance(self.target.off_road_m[0])} away) are not linked"
        )


def _profiles(mobility: np.ndarray, own: np.ndarray, max_speed: float, step: float) -> tuple[list[Profile], np.ndarray]:
    """Distinct weight profiles and each road unit's: length on foot; time for vehicles, capped by their own speed."""
    cap = np.where(np.isnan(own), np.inf, own)
    # Rounded down (never below one step) so a few distinct caps cover any fleet; a slower estimate is safe.
    cap = np.maximum(np.floor(cap / step) * step, np.minimum(step, cap))
    cap[cap >= max_speed] = np.inf
    cap[mobility == FOOT] = -1.0
    values, codes = np.unique(cap, return_inverse=True)
    profiles = [LENGTH if v < 0 else TIME if math.isinf(v) else Profile("time", v) for v in values.tolist()]
    return profiles, codes.reshape(-1)


def _labels(graph: RoadGraph, segs: Iterable[int]) -> list[str]:
    """Segment labels (name, else key) without repeats, in order."""
    return list(dict.fromkeys(graph.segments[s].label for s in segs))


def _how(mobility: int, speed: float, cap_kmh: float | None, off_speed: float, off_shown: bool) -> str:
    if mobility == FOOT:
        return f"on foot at {_kmh(speed)} km/h"
    cap = "" if cap_kmh is None else f" up to {_kmh(cap_kmh)} km/h"
    off = f", {_kmh(off_speed)} km/h off-road" if off_shown else ""
    return f"by vehicle at road speeds{cap}{off}"


def _explain_road(road_m: float, off_m: float, eta: float, how: str, via: list[str], avoid: list[str]) -> str:
    avoided = f"; avoids closed {_segments(avoid)}" if avoid else ""
    if road_m < 1 and off_m < OFF_ROAD_SHOWN_M:
        return f"already at the target: {_duration(eta)}{avoided}"
    if road_m < 1:
        return f"{_distance(off_m)} off-road, no road leg: {_duration(eta)} {how}{avoided}"
    route = ""
    if via:
        more = f" and {len(via) - VIA_SHOWN} more" if len(via) > VIA_SHOWN else ""
        route = " via " + ", ".join(via[:VIA_SHOWN]) + more
    off = f" plus {_distance(off_m)} off-road" if off_m >= OFF_ROAD_SHOWN_M else ""
    return f"{_distance(road_m)} by road{route}{off}: {_duration(eta)} {how}{avoided}"


def _straight_texts(
    mobility: np.ndarray, straight_m: np.ndarray, speed: np.ndarray, eta: np.ndarray, params: RankingParams
) -> list[str]:
    """Sentences for straight-line estimates: boats always, foot and vehicle units without a road network."""
    frames: dict[tuple[int, float], tuple[str, str, str]] = {}
    out = []
    for mob, kmh, dist, duration in zip(
        mobility.tolist(), speed.tolist(), _distances(straight_m), _durations(eta), strict=True
    ):
        frame = frames.get((mob, kmh)) or frames.setdefault((mob, kmh), _straight_frame(mob, kmh, params))
        out.append(f"{frame[0]}{dist}{frame[1]}{duration}{frame[2]}")
    return out


def _straight_frame(mobility: int, speed: float, params: RankingParams) -> tuple[str, str, str]:
    how = ("on foot", "by vehicle", "by boat")[mobility]
    middle = f" straight × {params.detour_factor:g} detour {how} at {_kmh(speed)} km/h: "
    if mobility == BOAT:
        return "", middle, " (no river network)"
    return "no road network loaded: ", middle, ""


def _segments(labels: list[str]) -> str:
    quoted = [f"'{label}'" for label in labels]
    if len(quoted) == 1:
        return f"segment {quoted[0]}"
    return f"segments {', '.join(quoted[:-1])} and {quoted[-1]}"


def _distance(m: float) -> str:
    if m < 995:
        return f"{round(m / 10) * 10} m"
    return f"{round(m / 100) / 10:.1f} km" if m < 9950 else f"{round(m / 1000)} km"


def _distances(m: np.ndarray) -> list[str]:
    """_distance of every value, by table lookup (same rounding: numpy and Python both round half to even)."""
    code = np.where(m < 995, np.rint(m / 10), np.where(m < 9950, 100 + np.rint(m / 100), 200 + np.rint(m / 1000)))
    return _lookup(_distance_table(), code, m, _distance)


@cache
def _distance_table() -> list[str]:
    metres = [f"{c * 10} m" for c in range(100)]
    kilometres = [f"{c / 10:.1f} km" for c in range(100)]
    return metres + kilometres + [f"{c} km" for c in range(TABLE_KM + 1)]


def _duration(s: float) -> str:
    return _minutes(round(s / 60))


def _durations(s: np.ndarray) -> list[str]:
    """_duration of every value, by table lookup."""
    return _lookup(_minutes_table(), np.rint(s / 60), s, _duration)


def _lookup(table: list[str], code: np.ndarray, values: np.ndarray, fallback: Callable[[float], str]) -> list[str]:
    """table[code] per value; values off the table are formatted one by one."""
    inside = np.isfinite(code) & (code < len(table))
    out = list(map(table.__getitem__, np.where(inside, code, 0).astype(np.int64).tolist()))
    for k in np.flatnonzero(~inside).tolist():
        out[k] = fallback(float(values[k]))
    return out


@cache
def _minutes_table() -> list[str]:
    return [_minutes(m) for m in range(TABLE_MINUTES + 1)]


def _minutes(minutes: int) -> str:
    if minutes < 1:
        return "under 1 min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _kmh(speed: float) -> str:
    return f"{speed:.0f}" if float(speed).is_integer() else f"{speed:.1f}"
