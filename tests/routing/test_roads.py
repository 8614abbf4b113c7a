"""GeoJSON road import: coordinates, keys, classes and speeds, and errors that name the feature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.routing.roads import CLASS_SPEED_KMH, RoadImportError, RoadSegment, load_roads, parse_roads

DEMO_ROADS = Path(__file__).resolve().parents[2] / "app" / "data" / "demo" / "car_roads.geojson"


def feature(coords=None, geometry_type="LineString", feature_id=None, **props):
    """A GeoJSON Feature with [lon, lat] coordinates."""
    geometry = {"type": geometry_type, "coordinates": coords if coords is not None else [[18.5, 4.3], [18.6, 4.4]]}
    out = {"type": "Feature", "properties": props, "geometry": geometry}
    if feature_id is not None:
        out["id"] = feature_id
    return out


def collection(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def test_coordinates_become_lat_lon_and_class_gives_speed():
    result = parse_roads(
        collection(feature([[18.5, 4.3], [18.6, 4.4, 350.0]], id="RN2-a", name="RN2", highway="primary"))
    )
    assert result.skipped == 0
    assert result.segments == [
        RoadSegment(key="RN2-a", name="RN2", road_class="primary", speed_kmh=50.0, coords=((4.3, 18.5), (4.4, 18.6)))
    ]


@pytest.mark.parametrize(
    ("props", "feature_id", "key"),
    [
        ({"id": "a", "osm_id": 7}, "f", "a"),
        ({"osm_id": 123456}, "f", "123456"),
        ({}, "way/9", "way/9"),
        ({}, None, "f0"),
    ],
)
def test_key_precedence(props, feature_id, key):
    assert parse_roads(collection(feature(feature_id=feature_id, **props))).segments[0].key == key


def test_name_falls_back_to_ref_and_class_to_road_class():
    segment = parse_roads(collection(feature(ref="RN8", road_class="Secondary"))).segments[0]
    assert (segment.name, segment.road_class, segment.speed_kmh) == ("RN8", "secondary", 35.0)
    assert segment.label == "RN8"
    unnamed = parse_roads(collection(feature(id="k"))).segments[0]
    assert (unnamed.name, unnamed.label, unnamed.road_class) == (None, "k", "unclassified")


def test_class_speeds_are_realistic_for_laterite():
    speeds = CLASS_SPEED_KMH
    assert speeds["primary"] > speeds["secondary"] > speeds["tertiary"] > speeds["track"] > speeds["path"]
    assert speeds["primary"] <= 60 and speeds["path"] <= 6
    assert parse_roads(collection(feature(highway="primary_link"))).segments[0].speed_kmh == speeds["primary"]


@pytest.mark.parametrize(
    ("props", "speed"),
    [
        ({"highway": "track", "speed_kmh": 40}, 40.0),
        ({"highway": "track", "speed_kmh": "22.5"}, 22.5),
        ({"highway": "primary", "maxspeed": "30"}, 30.0),
        ({"highway": "primary", "maxspeed": "20 mph"}, 20 * 1.609344),
        ({"highway": "primary", "maxspeed": 90}, 50.0),  # a legal limit never raises the laterite speed
        ({"highway": "primary", "maxspeed": "CF:rural"}, 50.0),
        ({"highway": "primary", "maxspeed": "walk"}, 5.0),
        ({"highway": "primary", "speed_kmh": 70, "maxspeed": 30}, 70.0),
    ],
)
def test_speed_overrides(props, speed):
    assert parse_roads(collection(feature(**props))).segments[0].speed_kmh == pytest.approx(speed)


def test_multilinestring_gives_one_segment_per_part_with_one_key():
    coords = [[[18.5, 4.3], [18.6, 4.4]], [[18.6, 4.4], [18.7, 4.4]]]
    segments = parse_roads(collection(feature(coords, "MultiLineString", id="m"))).segments
    assert [s.key for s in segments] == ["m", "m"]
    assert segments[1].coords == ((4.4, 18.6), (4.4, 18.7))


def test_non_lines_and_unbuilt_roads_are_skipped_and_counted():
    doc = collection(
        feature([18.5, 4.3], "Point"),
        feature(id="road"),
        {"type": "Feature", "properties": {}, "geometry": None},
        feature([[[18.5, 4.3], [18.6, 4.3], [18.6, 4.4], [18.5, 4.3]]], "Polygon"),
        feature(id="planned", highway="proposed"),
    )
    result = parse_roads(doc)
    assert [s.key for s in result.segments] == ["road"]
    assert result.skipped == 4


def test_repeated_points_are_dropped():
    segment = parse_roads(collection(feature([[18.5, 4.3], [18.5, 4.3], [18.6, 4.4]]))).segments[0]
    assert segment.coords == ((4.3, 18.5), (4.4, 18.6))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (feature(geometry_type="Linestring"), "geometry type 'Linestring'"),
        (feature([[18.5, 4.3]]), "at least 2 distinct points"),
        (feature([[18.5, 4.3], [18.5, 4.3]]), "at least 2 distinct points"),
        (feature([[18.5, 94.0], [18.6, 4.4]]), "out of range"),
        (feature([[200.0, 4.3], [18.6, 4.4]]), "out of range"),
        (feature([[18.5, "4.3"], [18.6, 4.4]]), "must be numbers"),
        (feature([[18.5], [18.6, 4.4]]), "a position must be [lon, lat]"),
        (feature("nope"), "coordinates must be a list"),
        (feature([[18.5, float("nan")], [18.6, 4.4]]), "not a finite number"),
        (feature(speed_kmh="fast"), "speed_kmh 'fast' is not a number"),
        (feature(speed_kmh=-3), "outside"),
        (feature(speed_kmh=True), "not a number"),
        (feature(maxspeed="quick"), "maxspeed 'quick' is not a number"),
        (feature(id=["a"]), "id must be a string or an integer"),
        (feature(id="  "), "id is empty"),
        (feature(name={"fr": "x"}), "name must be text"),
        (feature(highway=3), "highway/road_class"),
        (feature([[[18.5, 4.3]]], "MultiLineString"), "part 0"),
        (feature([], "MultiLineString"), "non-empty list of lines"),
        ({"type": "Feature", "properties": [], "geometry": None}, "'properties' must be an object"),
        ({"type": "Feature", "properties": {}, "geometry": "LineString"}, "'geometry' must be an object"),
        ("feature", "not a GeoJSON Feature"),
    ],
)
def test_errors_name_the_feature_index(bad, message):
    with pytest.raises(RoadImportError) as caught:
        parse_roads(collection(feature(id="ok"), feature(id="ok2"), bad))
    assert str(caught.value).startswith("features[2]")
    assert message in str(caught.value)


def test_error_names_the_feature_id_when_known():
    with pytest.raises(RoadImportError, match=r"features\[0\] \(id 'RN2-x'\): speed_kmh"):
        parse_roads(collection(feature(id="RN2-x", speed_kmh="?")))


def test_duplicate_ids_are_rejected():
    with pytest.raises(RoadImportError, match=r"features\[1\]: id 'a' is already used by features\[0\]"):
        parse_roads(collection(feature(id="a"), feature(id="a")))


@pytest.mark.parametrize(
    "doc", [[], {"type": "Feature"}, {"type": "FeatureCollection"}, {"type": "FeatureCollection", "features": {}}]
)
def test_not_a_feature_collection(doc):
    with pytest.raises(RoadImportError):
        parse_roads(doc)


def test_load_roads_reads_text_and_bytes():
    doc = collection(feature(id="a"))
    assert load_roads(json.dumps(doc)).segments[0].key == "a"
    assert load_roads(b"\xef\xbb\xbf" + json.dumps(doc).encode()).segments[0].key == "a"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"type": "FeatureCollection", ', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_load_roads_errors(raw, message):
    with pytest.raises(RoadImportError, match=message):
        load_roads(raw)


def test_demo_network_parses():
    result = load_roads(DEMO_ROADS.read_bytes())
    assert result.skipped == 0
    keys = {s.key for s in result.segments}
    assert {"RN2-Sibut-Bambari", "RN5-Bambari-Bria", "Bac-de-Kouango"} <= keys
    ferry = next(s for s in result.segments if s.key == "Bac-de-Kouango")
    assert (ferry.name, ferry.road_class) == ("Bac de Kouango", "ferry")
    assert all(s.road_class in CLASS_SPEED_KMH for s in result.segments)
    assert all(2.2 <= lat <= 11.0 and 14.4 <= lon <= 27.5 for s in result.segments for lat, lon in s.coords)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
numbers = st.integers(min_value=-(10**400), max_value=10**400) | st.floats()
positions = st.lists(numbers, min_size=0, max_size=3) | json_values
geometries = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["LineString", "MultiLineString", "Point", "Polygon", "Curve"]) | json_values,
        "coordinates": st.lists(positions, max_size=4) | st.lists(st.lists(positions, max_size=3), max_size=3),
    }
)
properties = st.dictionaries(
    st.sampled_from(["id", "osm_id", "name", "ref", "highway", "road_class", "route", "speed_kmh", "maxspeed"]),
    json_values | st.sampled_from(["primary", "track", "ferry", "proposed", "30 mph", "none", "CF:urban"]) | numbers,
    max_size=5,
)
features = st.fixed_dictionaries(
    {"type": st.just("Feature") | json_values, "properties": properties | json_values, "geometry": geometries},
    optional={"id": json_values},
)
documents = st.fixed_dictionaries(
    {"type": st.just("FeatureCollection") | json_values, "features": st.lists(features, max_size=4) | json_values}
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(documents, json_values))
def test_parse_roads_raises_only_road_import_error(doc):
    try:
        result = parse_roads(doc)
    except RoadImportError as exc:
        assert str(exc)
        return
    for segment in result.segments:
        assert len(segment.coords) >= 2 and 0 < segment.speed_kmh <= 200
        assert all(-90 <= lat <= 90 and -180 <= lon <= 180 for lat, lon in segment.coords)
