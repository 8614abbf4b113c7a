"""Protection-matrix zones and vulnerable sites from GeoJSON, and a spatial index to look them up (pure)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import shapely
from shapely.validation import explain_validity

from app.geo.distance import EARTH_RADIUS_M, haversine_m
from app.geo.geojson import feature_list, load_features

Protection = Literal["must", "should", "could"]
PROTECTION_CLASSES: tuple[str, ...] = ("must", "should", "could")  # strictest first
SITE_KINDS: tuple[str, ...] = (
    "idp_camp",
    "market",
    "school",
    "health_centre",
    "church",
    "mosque",
    "water_point",
    "other",
)
# A point site stands for the area where people gather: a camp spreads over a kilometre or more, a market over blocks.
SITE_RADIUS_M: dict[str, float] = {"idp_camp": 1500.0, "market": 500.0}
DEFAULT_SITE_RADIUS_M = 300.0
MAX_SITE_RADIUS_M = 50_000.0
# Beyond this a location is a guess at the town or the reporter's area: widening it to every zone it touches
# would raise the priority of everything near a must-protect zone, so only the zone under the point counts.
PRECISE_M = 5_000.0
M_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180
DISC_VERTICES = 32  # the inscribed 32-gon is within 0.5% of the circle
_KIND_ALIASES = {
    "idp": "idp_camp",
    "idp_site": "idp_camp",
    "displacement_site": "idp_camp",
    "health_center": "health_centre",
    "clinic": "health_centre",
    "hospital": "health_centre",
    "well": "water_point",
    "borehole": "water_point",
}
_ANGLES = np.linspace(0.0, 2 * math.pi, DISC_VERTICES, endpoint=False)
_UNIT_CIRCLE = np.column_stack((np.sin(_ANGLES), np.cos(_ANGLES)))
_AREA_TYPES = frozenset({"Polygon", "MultiPolygon"})
_OTHER_TYPES = frozenset({"MultiPoint", "LineString", "MultiLineString", "GeometryCollection"})
_SEPARATORS = re.compile(r"[\s_\-]+")


class ZoneImportError(ValueError):
    """A protection file that cannot be used; the message names the feature and what is wrong."""


@dataclass(frozen=True)
class Zone:
    """An area of the protection matrix: the mission must, should or could protect civilians in it."""

    key: str
    name: str
    protection: Protection
    geometry: dict[str, Any] = field(hash=False, repr=False)  # GeoJSON Polygon or MultiPolygon, [lon, lat]


@dataclass(frozen=True)
class VulnerableSite:
    """A place where civilians gather: within radius_m of (lat, lon); a polygon site also keeps its outline."""

    key: str
    name: str
    kind: str
    lat: float
    lon: float
    radius_m: float
    geometry: dict[str, Any] | None = field(default=None, hash=False, repr=False)


@dataclass(frozen=True)
class ProtectionImport:
    """Parsed zones and sites, and the count of features that are neither (roads, unclassified shapes)."""

    zones: list[Zone]
    sites: list[VulnerableSite]
    skipped: int


def load_protection(raw: bytes | str) -> ProtectionImport:
    """Parse GeoJSON text or bytes; ZoneImportError if it is not valid JSON or not a usable protection matrix."""
    return parse_protection({"type": "FeatureCollection", "features": load_features(raw, ZoneImportError)})


def parse_protection(doc: Any) -> ProtectionImport:
    """Zones and sites from a FeatureCollection dict; ZoneImportError naming the feature index on any bad feature."""
    features = feature_list(doc, ZoneImportError)
    zones: dict[str, tuple[int, Zone]] = {}
    sites: dict[str, tuple[int, VulnerableSite]] = {}
    skipped = 0
    for index, feature in enumerate(features):
        zone, site = _feature(index, feature)
        if zone is None and site is None:
            skipped += 1
        for found, seen, what in ((zone, zones, "zone"), (site, sites, "site")):
            if found is None:
                continue
            if found.key in seen:
                raise ZoneImportError(
                    f"features[{index}]: {what} id {found.key!r} is already used by features[{seen[found.key][0]}]"
                )
            seen[found.key] = (index, found)
    return ProtectionImport([z for _, z in zones.values()], [s for _, s in sites.values()], skipped)


def _feature(index: int, feature: Any) -> tuple[Zone | None, VulnerableSite | None]:
    """The zone and the site one feature describes; (None, None) when it is neither."""
    where = f"features[{index}]"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ZoneImportError(f"{where}: not a GeoJSON Feature object")
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise ZoneImportError(f"{where}: 'properties' must be an object or null")
    protection = _protection(where, props)
    kind = _site_kind(where, props)
    if protection is None and kind is None:
        return None, None
    key = _key(where, props, feature, index)
    where = f"{where} (id {key!r})"
    name = _text(where, props, "name") or key
    shape = _shape(where, feature.get("geometry"))
    zone = None if protection is None else _zone(where, key, name, protection, shape)
    site = None if kind is None else _site(where, key, name, kind, props, shape)
    return zone, site


def _protection(where: str, props: dict) -> str | None:
    """must/should/could from "must", "Must protect", "MUST_PROTECT"; None when the property is absent."""
    value = props.get("protection")
    if value is None:
        return None
    if not isinstance(value, str):
        raise ZoneImportError(f"{where}: protection must be text, not {type(value).__name__}")
    normal = _SEPARATORS.sub(" ", value).strip().lower().removesuffix(" protect")
    if normal not in PROTECTION_CLASSES:
        raise ZoneImportError(f"{where}: unknown protection class {value!r:.40} (expected must, should or could)")
    return normal


def _site_kind(where: str, props: dict) -> str | None:
    """The site kind: `site` must name one; `kind` is a common property, so other values just mean "not a site"."""
    site, kind = props.get("site"), props.get("kind")
    if site is not None:
        normal = _normal_kind(site)
        if normal is None:
            raise ZoneImportError(f"{where}: unknown site kind {site!r:.40} (expected one of {', '.join(SITE_KINDS)})")
        return normal
    return None if kind is None else _normal_kind(kind)


def _normal_kind(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    normal = _SEPARATORS.sub("_", value.strip().lower())
    normal = _KIND_ALIASES.get(normal, normal)
    return normal if normal in SITE_KINDS else None


def _key(where: str, props: dict, feature: dict, index: int) -> str:
    for source, value in (("feature id", feature.get("id")), ("id", props.get("id")), ("key", props.get("key"))):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ZoneImportError(f"{where}: {source} must be a string or an integer, not {type(value).__name__}")
        key = str(value).strip()
        if not key:
            raise ZoneImportError(f"{where}: {source} is empty")
        return key
    return f"f{index}"


def _text(where: str, props: dict, field_name: str) -> str | None:
    value = props.get(field_name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ZoneImportError(f"{where}: {field_name} must be text, not {type(value).__name__}")
    return str(value).strip() or None


def _zone(where: str, key: str, name: str, protection: str, shape: shapely.Geometry) -> Zone:
    if shape.geom_type not in _AREA_TYPES:
        raise ZoneImportError(f"{where}: a protection zone must be a Polygon or MultiPolygon, not a {shape.geom_type}")
    return Zone(key=key, name=name, protection=protection, geometry=_geojson(shape))  # type: ignore[arg-type]


def _site(where: str, key: str, name: str, kind: str, props: dict, shape: shapely.Geometry) -> VulnerableSite:
    if shape.geom_type == "Point":
        radius = _radius(where, props, kind)
        return VulnerableSite(key=key, name=name, kind=kind, lat=shape.y, lon=shape.x, radius_m=radius)
    # A polygon site is also a circle that covers it (the farthest point is a vertex), for consumers that keep only
    # a point and a radius.
    centre = shape.centroid
    far = max(haversine_m(centre.y, centre.x, y, x) for x, y in shapely.get_coordinates(shape).tolist())
    radius = float(math.ceil(far))
    return VulnerableSite(key, name, kind, lat=centre.y, lon=centre.x, radius_m=radius, geometry=_geojson(shape))


def _radius(where: str, props: dict, kind: str) -> float:
    raw = props.get("radius_m")
    if raw is None:
        return SITE_RADIUS_M.get(kind, DEFAULT_SITE_RADIUS_M)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ZoneImportError(f"{where}: radius_m must be a number, not {raw!r:.30}")
    if not 0 < raw <= MAX_SITE_RADIUS_M:  # also rejects NaN, and compares ints too large for a float
        raise ZoneImportError(f"{where}: radius_m {raw!r:.30} is outside 0-{MAX_SITE_RADIUS_M:.0f} m")
    return float(raw)


def _geojson(shape: shapely.Geometry) -> dict[str, Any]:
    return json.loads(shapely.to_geojson(shape))


def _shape(where: str, geometry: Any) -> shapely.Geometry:
    """A valid shapely Point, Polygon or MultiPolygon from a GeoJSON geometry, or ZoneImportError saying why not."""
    if geometry is None:
        raise ZoneImportError(f"{where}: missing geometry")
    if not isinstance(geometry, dict):
        raise ZoneImportError(f"{where}: 'geometry' must be an object")
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "Point":
        return shapely.Point(_position(where, coordinates))
    if kind == "Polygon":
        shape = _polygon(where, coordinates)
    elif kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise ZoneImportError(f"{where}: MultiPolygon coordinates must be a non-empty list of polygons")
        shape = shapely.MultiPolygon([_polygon(f"{where} part {n}", part) for n, part in enumerate(coordinates)])
    elif isinstance(kind, str) and kind in _OTHER_TYPES:
        raise ZoneImportError(f"{where}: geometry type {kind} is not a Point, Polygon or MultiPolygon")
    else:
        raise ZoneImportError(f"{where}: unknown geometry type {kind!r:.40}")
    if not shape.is_valid:
        raise ZoneImportError(f"{where}: invalid polygon: {explain_validity(shape)}")
    return shape


def _polygon(where: str, rings: Any) -> shapely.Polygon:
    if not isinstance(rings, list) or not rings:
        raise ZoneImportError(f"{where}: Polygon coordinates must be a non-empty list of rings")
    shell, *holes = (_ring(f"{where} ring {n}", ring) for n, ring in enumerate(rings))
    return shapely.Polygon(shell, holes)


def _ring(where: str, ring: Any) -> list[tuple[float, float]]:
    """(lon, lat) positions of a closed ring; an unclosed ring is closed, as drawing tools sometimes leave it."""
    if not isinstance(ring, list):
        raise ZoneImportError(f"{where}: a ring must be a list of [lon, lat] positions")
    points = [_position(f"{where} point {n}", position) for n, position in enumerate(ring)]
    if points and points[0] != points[-1]:
        points.append(points[0])
    if len(points) < 4:
        raise ZoneImportError(f"{where}: a ring needs at least 3 distinct positions, got {max(len(points) - 1, 0)}")
    return points


def _position(where: str, position: Any) -> tuple[float, float]:
    """(lon, lat) of a GeoJSON position, checked to be finite and on the globe."""
    if not isinstance(position, list | tuple) or len(position) < 2:
        raise ZoneImportError(f"{where}: a position must be [lon, lat], got {position!r:.60}")
    lon, lat = position[0], position[1]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (lon, lat)):
        raise ZoneImportError(f"{where}: lon and lat must be numbers, got {position!r:.60}")
    try:
        lon, lat = float(lon), float(lat)
    except OverflowError as exc:
        raise ZoneImportError(f"{where}: coordinate is not a finite number") from exc
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ZoneImportError(f"{where}: coordinate is not a finite number")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ZoneImportError(f"{where}: [{lon}, {lat}] is out of range (GeoJSON order is [lon, lat])")
    return lon, lat


class ProtectionIndex:
    """Zones and sites of one deployment indexed for lookups by position; rebuild it when the matrix changes."""

    def __init__(self, zones: Iterable[Zone], sites: Iterable[VulnerableSite]) -> None:
        self.zones = tuple(zones)
        self.sites = tuple(sites)
        zones, sites = self.zones, self.sites
        self._zone_shapes = np.array([shapely.geometry.shape(z.geometry) for z in zones], dtype=object)
        shapely.prepare(self._zone_shapes)
        self._zone_tree = shapely.STRtree(self._zone_shapes)
        self._strictness = [PROTECTION_CLASSES.index(z.protection) for z in zones]
        # Where zones overlap the strictest wins; among equals the smaller (more specific) one, then the key.
        order = sorted(range(len(zones)), key=lambda i: (self._strictness[i], self._zone_shapes[i].area, zones[i].key))
        self._rank = np.empty(len(zones), dtype=np.int64)
        self._rank[order] = np.arange(len(zones))
        self._site_shapes = [None if s.geometry is None else shapely.geometry.shape(s.geometry) for s in sites]
        envelopes = [_site_envelope(s, shape) for s, shape in zip(sites, self._site_shapes, strict=True)]
        self._site_tree = shapely.STRtree(envelopes)

    @classmethod
    def build(cls, zones: Iterable[Zone], sites: Iterable[VulnerableSite]) -> ProtectionIndex:
        """Index the given zones and sites."""
        return cls(zones, sites)

    def zone_at(self, lat: float, lon: float) -> Zone | None:
        """The strictest zone containing the point (its boundary included), or None."""
        candidates = self._zone_tree.query(shapely.Point(lon, lat))
        hits = candidates[shapely.intersects_xy(self._zone_shapes[candidates], lon, lat)]
        if len(hits) == 0:
            return None
        return self.zones[int(hits[np.argmin(self._rank[hits])])]

    def zone_for(self, lat: float, lon: float, precision_m: float | None) -> Zone | None:
        """The strictest zone meeting the precision disc when precision_m ≤ PRECISE_M, else the zone at the point."""
        if precision_m is None or not 0 < precision_m <= PRECISE_M:
            return self.zone_at(lat, lon)
        hits = self._zone_tree.query(_disc(lat, lon, precision_m), predicate="intersects").tolist()
        if not hits:
            return None
        inside = shapely.intersects_xy(self._zone_shapes[hits], lon, lat).tolist()
        # Strictest first; then a zone under the point itself over one the disc merely touches.
        best, _ = min(
            zip(hits, inside, strict=True), key=lambda h: (self._strictness[h[0]], not h[1], self._rank[h[0]])
        )
        return self.zones[best]

    def sites_near(self, lat: float, lon: float, within_m: float) -> list[tuple[VulnerableSite, float]]:
        """Sites whose edge is within within_m of the point, nearest first, with that distance in metres (0 inside)."""
        if not (math.isfinite(within_m) and within_m >= 0):
            raise ValueError(f"within_m must be a finite distance in metres, not {within_m!r}")
        candidates = self._site_tree.query(_box(lat, lon, within_m))
        found = []
        for i in candidates.tolist():
            distance = _edge_distance_m(self.sites[i], self._site_shapes[i], lat, lon)
            if distance <= within_m:
                found.append((self.sites[i], distance))
        return sorted(found, key=lambda pair: (pair[1], pair[0].key))


def _site_envelope(site: VulnerableSite, shape: shapely.Geometry | None) -> shapely.Geometry:
    """What the site tree holds: the outline of a polygon site, the box around a point site's circle."""
    return shape if shape is not None else _box(site.lat, site.lon, site.radius_m)


def _box(lat: float, lon: float, radius_m: float) -> shapely.Polygon:
    """A lon/lat box containing the circle of radius_m about the point (wider, never narrower)."""
    dlat = radius_m / M_PER_DEGREE
    widest = min(abs(lat) + dlat, 89.0)  # the circle is widest in longitude on its poleward side
    dlon = min(dlat / math.cos(math.radians(widest)), 180.0)
    return shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def _disc(lat: float, lon: float, radius_m: float) -> shapely.Polygon:
    """A polygon for the circle of radius_m about the point, in lon/lat (equirectangular: radius_m ≤ PRECISE_M)."""
    dlat = radius_m / M_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return shapely.polygons(_UNIT_CIRCLE * (dlon, dlat) + (lon, lat))


def _edge_distance_m(site: VulnerableSite, shape: shapely.Geometry | None, lat: float, lon: float) -> float:
    """Metres from the point to the site's edge, 0 inside: haversine to a circle, local projection to a polygon."""
    if shape is None:
        return max(0.0, haversine_m(lat, lon, site.lat, site.lon) - site.radius_m)
    # Equirectangular projection about the point: metres within a fraction of a percent over tens of kilometres.
    scale = np.array([M_PER_DEGREE * math.cos(math.radians(lat)), M_PER_DEGREE])
    local = shapely.transform(shape, lambda xy: (xy - (lon, lat)) * scale)
    return float(shapely.distance(local, shapely.Point(0.0, 0.0)))
