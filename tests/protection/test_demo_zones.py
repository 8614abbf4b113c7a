"""The demo protection matrix: it parses, its zones are valid and sit on gazetteer places, and lookups make sense."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import shapely

from app.geo.distance import haversine_m
from app.protection.priority import SITE_NEAR_M, assess
from app.protection.zones import ProtectionIndex, load_protection

DEMO = Path(__file__).resolve().parents[2] / "app" / "data" / "demo"
SOURCE = "demo: drawn around gazetteer places; not mission data"


@pytest.fixture(scope="module")
def demo():
    return load_protection((DEMO / "car_zones.geojson").read_bytes())


@pytest.fixture(scope="module")
def index(demo):
    return ProtectionIndex.build(demo.zones, demo.sites)


@pytest.fixture(scope="module")
def places():
    with (DEMO / "car_places.csv").open(encoding="utf-8") as handle:
        return {(row["name"], row["kind"]): (float(row["lat"]), float(row["lon"])) for row in csv.DictReader(handle)}


def test_demo_file_parses_into_zones_of_every_class_and_sites(demo):
    assert demo.skipped == 0
    assert 10 <= len(demo.zones) <= 15 and 8 <= len(demo.sites) <= 12
    assert {z.protection for z in demo.zones} == {"must", "should", "could"}
    assert {"idp_camp", "market"} <= {s.kind for s in demo.sites}


def test_every_feature_is_marked_as_demo_data(demo):
    doc = json.loads((DEMO / "car_zones.geojson").read_text(encoding="utf-8"))
    assert all(f["properties"]["source"] == SOURCE and f["id"] and f["properties"]["name"] for f in doc["features"])
    assert len(doc["features"]) == len(demo.zones) + len(demo.sites)


def test_every_zone_is_a_valid_polygon_inside_the_country(demo):
    car = shapely.box(14.4, 2.2, 27.5, 11.1)
    for zone in demo.zones:
        shape = shapely.geometry.shape(zone.geometry)
        assert shape.is_valid and shape.area > 0, zone.key
        assert car.contains(shape), zone.key


def test_every_zone_is_centred_on_a_gazetteer_place(demo, places):
    for zone in demo.zones:
        centre = shapely.geometry.shape(zone.geometry).centroid
        nearest = min(haversine_m(centre.y, centre.x, lat, lon) for lat, lon in places.values())
        assert nearest < 100, zone.key


@pytest.mark.parametrize(
    ("place", "protection", "zone_name"),
    [
        (("Bria", "town"), "must", "Bria and PK3"),
        (("Kaga Bandoro", "town"), "must", "Kaga-Bandoro"),
        (("Kaga Bandoro market", "place"), "must", "Kaga-Bandoro"),
        (("Bambari", "town"), "must", "Bambari"),
        (("Batangafo", "town"), "must", "Batangafo"),
        (("Bangassou", "town"), "must", "Bangassou"),
        (("Bangui", "city"), "must", "Bangui PK5"),  # PK5 is one of the gazetteer names of Bangui's point
        (("Bimbo", "town"), "could", "Bangui"),
        (("N'délé", "town"), "should", "Ndélé"),
        (("Kabo", "town"), "should", "Kabo"),
        (("Alindao", "town"), "should", "Alindao"),
        (("Zemio", "town"), "should", "Zémio"),
        (("Obo", "town"), "should", "Obo"),
        (("Bossangoa", "town"), "could", "Bossangoa"),
        (("Bamingui", "town"), None, None),
        (("Sibut", "town"), None, None),
    ],
)
def test_gazetteer_places_fall_in_the_expected_zone(index, places, place, protection, zone_name):
    found = index.zone_at(*places[place])
    assert (found and found.protection, found and found.name) == (protection, zone_name)


def test_sites_are_where_they_should_be(index, demo, places):
    by_key = {s.key: s for s in demo.sites}
    pk3 = by_key["site-bria-pk3"]
    assert pk3.kind == "idp_camp" and pk3.geometry is not None
    assert index.zone_at(pk3.lat, pk3.lon).name == "Bria and PK3"
    assert 2_000 < haversine_m(pk3.lat, pk3.lon, *places[("Bria", "town")]) < 4_000
    near_pk5 = [s.key for s, _ in index.sites_near(*places[("Bangui", "city")], SITE_NEAR_M)]
    assert near_pk5 == ["site-bangui-pk5-market"]
    assert index.zone_at(by_key["site-bangui-mpoko"].lat, by_key["site-bangui-mpoko"].lon).name == "Bangui"


def test_an_extreme_attack_in_bria_is_p1(index, places):
    lat, lon = places[("Bria", "town")]
    zone = index.zone_for(lat, lon, 1000)
    sites = [(s.kind, d, s.name) for s, d in index.sites_near(lat, lon, SITE_NEAR_M)]
    priority = assess("extreme", zone.protection, sites, 1, "unverified", "attack_civilians", zone_name=zone.name)
    assert priority.level == "P1"
    assert "must-protect zone 'Bria and PK3'" in priority.reasons and "inside market 'Bria market'" in priority.reasons
