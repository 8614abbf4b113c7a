"""Protection-matrix import (zones, sites, errors that name the feature) and the lookups of ProtectionIndex."""

from __future__ import annotations

import json
import math
import random
import time

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.geo.distance import destination, haversine_m
from app.protection.zones import (
    PRECISE_M,
    ProtectionIndex,
    VulnerableSite,
    Zone,
    ZoneImportError,
    load_protection,
    parse_protection,
)


def square(lon0, lat0, lon1, lat1):
    """A GeoJSON Polygon for the lon/lat box, closed, counter-clockwise."""
    return {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]}


def point(lon, lat):
    return {"type": "Point", "coordinates": [lon, lat]}


def feature(geometry=None, feature_id=None, **props):
    out = {"type": "Feature", "properties": props, "geometry": geometry if geometry is not None else square(0, 0, 1, 1)}
    if feature_id is not None:
        out["id"] = feature_id
    return out


def collection(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def zone(key, protection, geometry):
    return Zone(key=key, name=key, protection=protection, geometry=geometry)


def site(key, lat, lon, radius_m=500.0, kind="market"):
    return VulnerableSite(key=key, name=key, kind=kind, lat=lat, lon=lon, radius_m=radius_m)


# -- import --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "protection"),
    [
        ("must", "must"),
        ("MUST", "must"),
        ("Must protect", "must"),
        ("must-protect", "must"),
        ("MUST_PROTECT", "must"),
        ("  should  protect ", "should"),
        ("Could", "could"),
    ],
)
def test_protection_class_accepts_un_wording(value, protection):
    result = parse_protection(collection(feature(feature_id="z", name="Bria", protection=value)))
    assert result.zones == [Zone(key="z", name="Bria", protection=protection, geometry=square(0, 0, 1, 1))]
    assert (result.sites, result.skipped) == ([], 0)


def test_zone_geometry_is_normalised_geojson():
    # An unclosed ring with altitudes: closed, altitudes dropped, still [lon, lat].
    ring = [[18.5, 4.3, 400], [18.6, 4.3, 410], [18.6, 4.4, 405]]
    result = parse_protection(collection(feature({"type": "Polygon", "coordinates": [ring]}, protection="must")))
    assert result.zones[0].geometry == {
        "type": "Polygon",
        "coordinates": [[[18.5, 4.3], [18.6, 4.3], [18.6, 4.4], [18.5, 4.3]]],
    }


@pytest.mark.parametrize(
    ("props", "feature_id", "key", "name"),
    [
        ({"id": "p", "key": "k", "name": "N"}, "f", "f", "N"),
        ({"id": "p", "key": "k"}, None, "p", "p"),
        ({"key": 12}, None, "12", "12"),
        ({"name": "  Ndélé  "}, None, "f0", "Ndélé"),
    ],
)
def test_key_precedence_and_name_default(props, feature_id, key, name):
    result = parse_protection(collection(feature(feature_id=feature_id, protection="should", **props)))
    assert (result.zones[0].key, result.zones[0].name) == (key, name)


@pytest.mark.parametrize(
    ("props", "kind", "radius_m"),
    [
        ({"site": "idp_camp"}, "idp_camp", 1500.0),
        ({"site": "IDP camp"}, "idp_camp", 1500.0),
        ({"kind": "market"}, "market", 500.0),
        ({"site": "school"}, "school", 300.0),
        ({"kind": "Health center"}, "health_centre", 300.0),
        ({"site": "mosque", "radius_m": 120}, "mosque", 120.0),
        ({"site": "water-point", "radius_m": 50.5}, "water_point", 50.5),
    ],
)
def test_point_site_kind_and_radius(props, kind, radius_m):
    result = parse_protection(collection(feature(point(18.55, 4.37), feature_id="s", name="X", **props)))
    assert result.sites == [VulnerableSite(key="s", name="X", kind=kind, lat=4.37, lon=18.55, radius_m=radius_m)]
    assert result.zones == []


def test_polygon_site_is_a_circle_covering_it_and_keeps_its_outline():
    outline = square(21.98, 6.56, 22.0, 6.58)
    found = parse_protection(collection(feature(outline, site="idp_camp", name="PK3"))).sites[0]
    assert (found.lat, found.lon) == pytest.approx((6.57, 21.99))
    corners = [haversine_m(found.lat, found.lon, lat, lon) for lon, lat in outline["coordinates"][0]]
    assert max(corners) <= found.radius_m <= max(corners) + 1
    assert found.geometry == outline


def test_a_feature_can_be_both_a_zone_and_a_site():
    result = parse_protection(collection(feature(feature_id="pk3", protection="must", site="idp_camp")))
    assert [z.key for z in result.zones] == ["pk3"] and [s.key for s in result.sites] == ["pk3"]


@pytest.mark.parametrize(
    "unknown",
    [
        feature({"type": "LineString", "coordinates": [[18.5, 4.3], [18.6, 4.4]]}, highway="primary"),
        feature(name="an unclassified polygon"),
        feature(point(18.5, 4.3), kind="village"),  # `kind` is a common property: only site kinds make a site
        feature(point(18.5, 4.3), kind="camp"),  # a mining camp is not an IDP camp
        {"type": "Feature", "properties": None, "geometry": None},
        feature(protection=None),
    ],
)
def test_features_that_are_neither_are_skipped_and_counted(unknown):
    result = parse_protection(collection(unknown, feature(protection="could")))
    assert (len(result.zones), result.sites, result.skipped) == (1, [], 1)


BOW_TIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            feature(BOW_TIE, protection="must"),
            r"features\[1\] \(id 'f1'\): invalid polygon: Self-intersection\[0\.5 0\.5\]",
        ),
        (
            feature(square(18, 4, 19, 95), protection="must"),
            r"features\[1\] \(id 'f1'\) ring 0 point 2: \[19\.0, 95\.0\] is out of range",
        ),
        (feature(square(4, 18, 200, 19), protection="must"), r"features\[1\].*out of range \(GeoJSON order is"),
        (feature(protection="may protect"), r"features\[1\]: unknown protection class 'may protect'"),
        (feature(protection=3), r"features\[1\]: protection must be text"),
        ({"type": "Feature", "properties": {"protection": "must"}}, r"features\[1\] \(id 'f1'\): missing geometry"),
        (
            feature(point(18.5, 4.3), protection="must"),
            r"features\[1\].*must be a Polygon or MultiPolygon, not a Point",
        ),
        (
            feature({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, protection="must"),
            r"features\[1\].*LineString is not a Point, Polygon or MultiPolygon",
        ),
        (feature({"type": "Circle", "coordinates": [0, 0]}, site="market"), r"unknown geometry type 'Circle'"),
        (feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, protection="must"), r"at least 3"),
        (feature({"type": "Polygon", "coordinates": []}, protection="must"), r"non-empty list of rings"),
        (feature({"type": "MultiPolygon", "coordinates": []}, protection="must"), r"non-empty list of polygons"),
        (feature(point(0, float("nan")), site="market"), r"not a finite number"),
        (feature(point(0, True), site="market"), r"lon and lat must be numbers"),
        (feature(point(0, 0), site="bunker"), r"features\[1\]: unknown site kind 'bunker'"),
        (feature(point(0, 0), site="market", radius_m=0), r"radius_m 0 is outside"),
        (feature(point(0, 0), site="market", radius_m="big"), r"radius_m must be a number"),
        (feature(point(0, 0), site="market", radius_m=float("nan")), r"radius_m nan is outside"),
        (feature(point(0, 0), site="market", radius_m=10**400), r"radius_m 1000.* is outside"),
        (feature(point(10**400, 0), site="market"), r"not a finite number"),
        (feature(feature_id="ok", protection="must"), r"features\[1\]: zone id 'ok' is already used by features\[0\]"),
        (feature(feature_id=1.5, protection="must"), r"feature id must be a string or an integer"),
        ({"type": "Feature", "properties": [], "geometry": None}, r"features\[1\]: 'properties' must be an object"),
        ("not a feature", r"features\[1\]: not a GeoJSON Feature"),
    ],
)
def test_bad_features_name_the_index_and_the_problem(bad, message):
    with pytest.raises(ZoneImportError, match=message):
        parse_protection(collection(feature(feature_id="ok", protection="should"), bad))


def test_overlapping_multipolygon_parts_are_invalid():
    parts = [square(0, 0, 2, 2)["coordinates"], square(1, 1, 3, 3)["coordinates"]]
    with pytest.raises(ZoneImportError, match=r"features\[0\].*invalid polygon: Self-intersection"):
        parse_protection(collection(feature({"type": "MultiPolygon", "coordinates": parts}, protection="must")))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "not a GeoJSON FeatureCollection"),
        ({"type": "Feature"}, "not a GeoJSON FeatureCollection"),
        ({"type": "FeatureCollection"}, "no 'features' list"),
    ],
)
def test_not_a_feature_collection(doc, message):
    with pytest.raises(ZoneImportError, match=message):
        parse_protection(doc)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", r"not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        (b"\xff\xfe", r"not UTF-8 text"),
        ("[" * 100_000 + "]" * 100_000, r"not valid JSON"),
    ],
)
def test_load_protection_rejects_what_is_not_json(raw, message):
    with pytest.raises(ZoneImportError, match=message):
        load_protection(raw)


def test_load_protection_reads_bytes_with_a_bom():
    raw = "\ufeff" + json.dumps(collection(feature(protection="must", name="Bambari")))
    assert load_protection(raw.encode()).zones[0].name == "Bambari"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
numbers = st.floats(-200, 200) | st.integers(-200, 200) | json_values
positions = st.lists(numbers, min_size=2, max_size=3) | json_values
rings = st.lists(positions, max_size=6) | json_values
geometries = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Point", "Polygon", "MultiPolygon", "LineString", "Circle"]) | json_values,
        "coordinates": positions | st.lists(rings, max_size=2) | st.lists(st.lists(rings, max_size=2), max_size=2),
    }
)
properties = st.fixed_dictionaries(
    {},
    optional={
        "protection": st.sampled_from(["must", "Should protect", "could", "never"]) | json_values,
        "site": st.sampled_from(["idp_camp", "market", "bunker"]) | json_values,
        "kind": st.sampled_from(["school", "village"]) | json_values,
        "radius_m": numbers,
        "id": json_values,
        "name": json_values,
    },
)
features = st.fixed_dictionaries(
    {"type": st.just("Feature") | json_values, "properties": properties | json_values, "geometry": geometries}
)
documents = st.fixed_dictionaries(
    {"type": st.just("FeatureCollection") | json_values, "features": st.lists(features, max_size=4) | json_values}
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(documents, json_values))
def test_parse_protection_raises_only_zone_import_error(doc):
    try:
        result = parse_protection(doc)
    except ZoneImportError as exc:
        assert str(exc)
        return
    for found in result.zones:
        assert shapely.geometry.shape(found.geometry).is_valid
    for found in result.sites:
        assert -90 <= found.lat <= 90 and -180 <= found.lon <= 180 and found.radius_m > 0
    ProtectionIndex.build(result.zones, result.sites)


# -- lookups -------------------------------------------------------------------------------------------------------

# Bria-like nest: a wide could-protect area, a should-protect district and a must-protect camp inside it.
COULD = zone("region", "could", square(21.0, 6.0, 23.0, 7.0))
SHOULD = zone("district", "should", square(21.9, 6.5, 22.1, 6.6))
MUST = zone("camp", "must", square(21.98, 6.56, 22.0, 6.58))
NESTED = ProtectionIndex.build([COULD, MUST, SHOULD], [])


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (6.57, 21.99, MUST),
        (6.52, 21.95, SHOULD),
        (6.2, 21.5, COULD),
        (6.57, 22.0, MUST),  # on the boundary
        (5.0, 18.0, None),
        (float("nan"), 21.99, None),
    ],
)
def test_zone_at_strictest_wins(lat, lon, expected):
    assert NESTED.zone_at(lat, lon) == expected


def test_zone_at_prefers_the_smaller_of_equally_strict_zones_and_respects_holes_and_parts():
    holed = {
        "type": "Polygon",
        "coordinates": [square(0, 0, 4, 4)["coordinates"][0], square(1, 1, 2, 2)["coordinates"][0][::-1]],
    }
    multi = {
        "type": "MultiPolygon",
        "coordinates": [square(10, 0, 11, 1)["coordinates"], square(12, 0, 13, 1)["coordinates"]],
    }
    big, small = zone("big", "should", square(0, 0, 3, 3)), zone("small", "should", square(0, 0, 0.5, 0.5))
    index = ProtectionIndex.build([zone("holed", "must", holed), zone("multi", "could", multi), big, small], [])
    assert index.zone_at(0.2, 0.2).key == "holed"
    assert index.zone_at(1.5, 1.5).key == "big"  # in the hole of the must zone
    assert ProtectionIndex.build([big, small], []).zone_at(0.2, 0.2).key == "small"
    assert index.zone_at(0.5, 12.5).key == "multi"
    assert index.zone_at(0.5, 11.5) is None


def test_zone_at_agrees_with_brute_force():
    rng = random.Random(7)
    zones = [_random_zone(rng, k) for k in range(120)]
    index = ProtectionIndex.build(zones, [])
    shapes = [shapely.geometry.shape(z.geometry) for z in zones]
    strict = {"must": 0, "should": 1, "could": 2}
    for _ in range(2000):
        lat, lon = rng.uniform(2, 11), rng.uniform(14, 28)
        containing = [z for z, s in zip(zones, shapes, strict=True) if s.intersects(shapely.Point(lon, lat))]
        found = index.zone_at(lat, lon)
        if not containing:
            assert found is None
        else:
            assert found in containing
            assert strict[found.protection] == min(strict[z.protection] for z in containing)


def _random_zone(rng, k):
    lat, lon, radius = rng.uniform(2, 11), rng.uniform(14, 28), rng.uniform(2_000, 60_000)
    ring = [destination(lat, lon, 360 * i / 8, radius) for i in range(8)]
    coords = [[x, y] for y, x in ring]
    return zone(
        f"z{k}", rng.choice(["must", "should", "could"]), {"type": "Polygon", "coordinates": [coords + coords[:1]]}
    )


# A must-protect box and a point 1 km east of its east edge, on the same parallel.
BOX = zone("box", "must", square(18.0, 4.0, 18.1, 4.1))
EAST_LAT = 4.05
EAST_LON = destination(EAST_LAT, 18.1, 90, 1000)[1]


@pytest.mark.parametrize(
    ("precision_m", "expected"),
    [
        (1500.0, BOX),  # the disc reaches into the zone
        (PRECISE_M, BOX),
        (800.0, None),  # it does not
        (PRECISE_M + 1, None),  # a wide guess only counts the zone under the point
        (0.0, None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_zone_for_uses_the_precision_disc_up_to_5_km(precision_m, expected):
    assert ProtectionIndex.build([BOX], []).zone_for(EAST_LAT, EAST_LON, precision_m) == expected


def test_zone_for_takes_the_strictest_zone_the_disc_meets_and_prefers_the_one_under_the_point():
    near_must = zone("near-must", "must", square(18.0, 4.0, 18.1, 4.1))
    under = zone("under", "should", square(18.1, 4.0, 18.2, 4.1))
    other_should = zone("other", "should", square(18.0, 4.1, 18.1, 4.2))
    index = ProtectionIndex.build([under, other_should, near_must], [])
    assert index.zone_for(4.05, EAST_LON, 1500).key == "near-must"
    assert index.zone_for(4.05, EAST_LON, 500).key == "under"
    # Near the corner a 3 km disc meets all three zones: the must zone wins, though the point is not in it.
    assert index.zone_for(4.101, 18.095, 3000).key == "near-must"
    # Both should-protect zones (of equal area) meet the disc: the one under the point wins, whatever the key order.
    no_must = ProtectionIndex.build([under, other_should], [])
    assert no_must.zone_for(4.101, 18.095, 3000).key == "other"
    assert no_must.zone_for(4.099, 18.105, 3000).key == "under"


def test_sites_near_measures_to_the_edge_and_sorts():
    bria = (6.54233, 21.98633)
    lat2, lon2 = destination(*bria, 90, 2000)
    index = ProtectionIndex.build([], [site("market", *bria, 500.0), site("camp", lat2, lon2, 1500.0, "idp_camp")])
    found = index.sites_near(*bria, 1000)
    assert [(s.key, d) for s, d in found] == [("market", 0.0), ("camp", pytest.approx(500.0, abs=1))]
    lat, lon = destination(*bria, 270, 800)
    assert [(s.key, round(d)) for s, d in index.sites_near(lat, lon, 2000)] == [("market", 300), ("camp", 1300)]
    assert [s.key for s, _ in index.sites_near(lat, lon, 1299)] == ["market"]
    assert index.sites_near(lat, lon, 299) == []


def test_sites_near_measures_polygon_sites_in_metres():
    camp = parse_protection(collection(feature(square(18.0, 4.0, 18.1, 4.1), site="idp_camp"))).sites[0]
    index = ProtectionIndex.build([], [camp])
    ((found, distance),) = index.sites_near(EAST_LAT, EAST_LON, 5000)
    assert found == camp and distance == pytest.approx(1000, rel=0.005)
    assert index.sites_near(4.05, 18.05, 10) == [(camp, 0.0)]
    north = destination(4.1, 18.05, 0, 2500)
    assert index.sites_near(*north, 3000)[0][1] == pytest.approx(2500, rel=0.005)
    assert index.sites_near(*north, 2400) == []


def test_sites_near_finds_wide_sites_from_beyond_their_centre_box():
    # A 20 km camp circle is found from 25 km away when looking 6 km around.
    far = destination(7.0, 20.0, 45, 25_000)
    index = ProtectionIndex.build([], [site("wide", 7.0, 20.0, 20_000.0, "idp_camp")])
    assert [round(d) for _, d in index.sites_near(*far, 6000)] == [5000]


@pytest.mark.parametrize("within_m", [-1.0, float("nan"), math.inf])
def test_sites_near_rejects_nonsense_distances(within_m):
    with pytest.raises(ValueError, match="within_m"):
        ProtectionIndex.build([], []).sites_near(4.0, 18.0, within_m)


def test_an_empty_index_answers_nothing():
    index = ProtectionIndex.build([], [])
    assert (index.zone_at(4, 18), index.zone_for(4, 18, 1000), index.sites_near(4, 18, 5000)) == (None, None, [])


def test_ten_thousand_lookups_on_hundreds_of_zones_take_well_under_a_second():
    rng = random.Random(3)
    zones = [_random_zone(rng, k) for k in range(300)]
    sites = [site(f"s{k}", rng.uniform(2, 11), rng.uniform(14, 28)) for k in range(300)]
    index = ProtectionIndex.build(zones, sites)
    points = [(rng.uniform(2, 11), rng.uniform(14, 28)) for _ in range(10_000)]
    for lookup in (
        lambda lat, lon: index.zone_at(lat, lon),
        lambda lat, lon: index.zone_for(lat, lon, 2000),
        lambda lat, lon: index.sites_near(lat, lon, 2000),
    ):
        started = time.perf_counter()
        for lat, lon in points:
            lookup(lat, lon)
        assert time.perf_counter() - started < 1.0
