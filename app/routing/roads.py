"""Road segments from a GeoJSON FeatureCollection of LineStrings: validated, with a vehicle speed per segment (pure)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from app.geo.geojson import feature_list, load_features

# Typical vehicle speeds (km/h) on CAR roads: outside Bangui nearly everything is laterite or earth, so these are
# travel speeds in the dry season, well below any legal limit. A mission-supplied `speed_kmh` replaces them.
CLASS_SPEED_KMH: dict[str, float] = {
    "motorway": 80.0,
    "trunk": 60.0,
    "primary": 50.0,
    "secondary": 35.0,
    "tertiary": 25.0,
    "unclassified": 20.0,
    "road": 20.0,
    "residential": 20.0,
    "living_street": 10.0,
    "service": 15.0,
    "track": 15.0,
    "ferry": 5.0,  # crossing speed only; waiting for the ferry is not modelled
    "path": 5.0,
    "footway": 5.0,
    "bridleway": 5.0,
    "cycleway": 5.0,
    "pedestrian": 5.0,
    "steps": 2.0,
}
DEFAULT_CLASS = "unclassified"
UNKNOWN_CLASS_SPEED_KMH = 20.0
# OSM lifecycle values: the way is drawn but cannot be driven, so it must not create a route.
NOT_A_ROAD = frozenset({"proposed", "construction", "abandoned", "disused", "razed", "dismantled"})
MAX_SPEED_KMH = 200.0
MPH_TO_KMH = 1.609344
KNOT_TO_KMH = 1.852
_MAXSPEED = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)
# OSM maxspeed values that state a rule rather than a number ("none", "CF:urban"): keep the class speed.
_MAXSPEED_RULE = re.compile(r"^(?:none|signals|variable|[A-Za-z]{2}:[A-Za-z_]+)$")
_LINE_TYPES = frozenset({"LineString", "MultiLineString"})
_OTHER_TYPES = frozenset({"Point", "MultiPoint", "Polygon", "MultiPolygon", "GeometryCollection"})


class RoadImportError(ValueError):
    """A road file that cannot be used; the message names the feature and what is wrong."""


@dataclass(frozen=True)
class RoadSegment:
    """One drivable polyline: coords are (lat, lon); speed_kmh is the vehicle speed along it."""

    key: str
    name: str | None
    road_class: str
    speed_kmh: float
    coords: tuple[tuple[float, float], ...]

    @property
    def label(self) -> str:
        """The name to show an operator: the road's name, else its key."""
        return self.name or self.key


@dataclass(frozen=True)
class RoadImport:
    """Parsed segments (a MultiLineString gives one per part, sharing the key) and the count of skipped features."""

    segments: list[RoadSegment]
    skipped: int


def load_roads(raw: bytes | str) -> RoadImport:
    """Parse GeoJSON text or bytes; RoadImportError if it is not valid JSON or not a usable road collection."""
    return parse_roads({"type": "FeatureCollection", "features": load_features(raw, RoadImportError)})


def parse_roads(doc: Any) -> RoadImport:
    """Segments from a FeatureCollection dict; RoadImportError naming the feature index on any bad feature."""
    features = feature_list(doc, RoadImportError)
    segments: list[RoadSegment] = []
    skipped = 0
    seen: dict[str, int] = {}
    for index, feature in enumerate(features):
        parsed = _feature(index, feature)
        if parsed is None:
            skipped += 1
            continue
        key = parsed[0].key
        if key in seen:
            raise RoadImportError(f"features[{index}]: id {key!r} is already used by features[{seen[key]}]")
        seen[key] = index
        segments.extend(parsed)
    return RoadImport(segments=segments, skipped=skipped)


def _feature(index: int, feature: Any) -> list[RoadSegment] | None:
    """The segments of one feature, or None when it is not a road (a point, a proposed way)."""
    where = f"features[{index}]"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise RoadImportError(f"{where}: not a GeoJSON Feature object")
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise RoadImportError(f"{where}: 'properties' must be an object or null")
    geometry = feature.get("geometry")
    if geometry is None:
        return None
    if not isinstance(geometry, dict):
        raise RoadImportError(f"{where}: 'geometry' must be an object or null")
    kind = geometry.get("type")
    if not isinstance(kind, str) or kind not in _LINE_TYPES | _OTHER_TYPES:
        raise RoadImportError(f"{where}: geometry type {kind!r:.40} is not LineString or MultiLineString")
    if kind in _OTHER_TYPES:
        return None
    key = _key(where, props, feature, index)
    where = f"{where} (id {key!r})"
    road_class = _road_class(where, props)
    if road_class in NOT_A_ROAD:
        return None
    name = _text(where, props, "name") or _text(where, props, "ref")
    speed = _speed(where, props, road_class)
    lines = _lines(where, kind, geometry.get("coordinates"))
    return [RoadSegment(key=key, name=name, road_class=road_class, speed_kmh=speed, coords=line) for line in lines]


def _key(where: str, props: dict, feature: dict, index: int) -> str:
    for source, value in (("id", props.get("id")), ("osm_id", props.get("osm_id")), ("feature id", feature.get("id"))):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise RoadImportError(f"{where}: {source} must be a string or an integer, not {type(value).__name__}")
        key = str(value).strip()
        if not key:
            raise RoadImportError(f"{where}: {source} is empty")
        return key
    return f"f{index}"


def _text(where: str, props: dict, field: str) -> str | None:
    value = props.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RoadImportError(f"{where}: {field} must be text, not {type(value).__name__}")
    return str(value).strip() or None


def _road_class(where: str, props: dict) -> str:
    value = props.get("highway")
    if value is None:
        value = props.get("road_class")
    if value is None and props.get("route") == "ferry":
        return "ferry"
    if value is None:
        return DEFAULT_CLASS
    if not isinstance(value, str) or not value.strip():
        raise RoadImportError(f"{where}: highway/road_class must be a non-empty string, not {value!r}")
    road_class = value.strip().lower()
    return road_class.removesuffix("_link")  # a slip road is as fast as the road it joins


def _speed(where: str, props: dict, road_class: str) -> float:
    """Vehicle speed: `speed_kmh` replaces the class speed; `maxspeed` is a legal limit, so it can only lower it."""
    default = CLASS_SPEED_KMH.get(road_class, UNKNOWN_CLASS_SPEED_KMH)
    if props.get("speed_kmh") is not None:
        return _check_speed(where, "speed_kmh", _number(props["speed_kmh"]), props["speed_kmh"])
    raw = props.get("maxspeed")
    if raw is None or (isinstance(raw, str) and _MAXSPEED_RULE.match(raw.strip())):
        return default
    if isinstance(raw, str) and raw.strip().lower() == "walk":
        return min(default, CLASS_SPEED_KMH["footway"])
    return min(default, _check_speed(where, "maxspeed", _maxspeed(raw), raw))


def _maxspeed(raw: Any) -> float | None:
    if not isinstance(raw, str):
        return _number(raw)
    match = _MAXSPEED.match(raw)
    if match is None:
        return None
    unit = (match.group("unit") or "km/h").lower()
    factor = {"mph": MPH_TO_KMH, "knots": KNOT_TO_KMH}.get(unit, 1.0)
    return float(match.group("value")) * factor


def _check_speed(where: str, field: str, speed: float | None, raw: Any) -> float:
    if speed is None:
        raise RoadImportError(f"{where}: {field} {raw!r} is not a number")
    if not 0 < speed <= MAX_SPEED_KMH:
        raise RoadImportError(f"{where}: {field} {raw!r} is outside 0-{MAX_SPEED_KMH:.0f} km/h")
    return speed


def _number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric string, else None (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _lines(where: str, kind: str, coordinates: Any) -> list[tuple[tuple[float, float], ...]]:
    if kind == "LineString":
        return [_line(where, coordinates)]
    if not isinstance(coordinates, list) or not coordinates:
        raise RoadImportError(f"{where}: MultiLineString coordinates must be a non-empty list of lines")
    return [_line(f"{where} part {part}", line) for part, line in enumerate(coordinates)]


def _line(where: str, coordinates: Any) -> tuple[tuple[float, float], ...]:
    """(lat, lon) points from GeoJSON [lon, lat] positions, repeated points dropped; at least two must remain."""
    if not isinstance(coordinates, list):
        raise RoadImportError(f"{where}: coordinates must be a list of [lon, lat] positions")
    points: list[tuple[float, float]] = []
    for number, position in enumerate(coordinates):
        point = _position(f"{where} point {number}", position)
        if not points or points[-1] != point:
            points.append(point)
    if len(points) < 2:
        raise RoadImportError(f"{where}: a line needs at least 2 distinct points, got {len(points)}")
    return tuple(points)


def _position(where: str, position: Any) -> tuple[float, float]:
    if not isinstance(position, list | tuple) or len(position) < 2:
        raise RoadImportError(f"{where}: a position must be [lon, lat], got {position!r:.60}")
    lon, lat = position[0], position[1]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (lon, lat)):
        raise RoadImportError(f"{where}: lon and lat must be numbers, got {position!r:.60}")
    lon, lat = _finite(where, lon), _finite(where, lat)
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise RoadImportError(f"{where}: [{lon}, {lat}] is out of range (GeoJSON order is [lon, lat])")
    return lat, lon


def _finite(where: str, value: int | float) -> float:
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise RoadImportError(f"{where}: coordinate {value!r:.30} is not a finite number")
    return number
