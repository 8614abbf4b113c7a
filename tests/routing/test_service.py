"""Routing on the stored network: road import, closures with expiry, and ranking units over the cached graph."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.clock import utcnow
from app.routing import service
from app.routing.models import RoadClosure, RoadSegmentRow
from app.routing.roads import RoadImportError
from app.units import service as units_service
from app.units.models import Unit

DEMO = Path(__file__).resolve().parents[2] / "app" / "data" / "demo"
ROADS = json.loads((DEMO / "car_roads.geojson").read_text(encoding="utf-8"))
FERRY = next(f["properties"]["id"] for f in ROADS["features"] if f["properties"]["name"] == "Bac de Kouango")
NEAR_KOUANGO = (5.00437, 19.98065)  # 1 km north of Kouango, on the Grimari road
BAMBARI_UNIT = "Sector East HQ"  # its road to Kouango takes the ferry


@pytest.fixture
def units(db_session, vault):
    units_service.import_units_csv(
        session=db_session, vault=vault, path=DEMO / "car_units_example.csv", default_region="CF"
    )


@pytest.fixture
def network(db_session, units):
    return service.import_roads(session=db_session, raw=(DEMO / "car_roads.geojson").read_bytes())


def ranked(db_session, **kwargs):
    return service.rank_for(session=db_session, lat=NEAR_KOUANGO[0], lon=NEAR_KOUANGO[1], **kwargs)


def by_name(db_session, **kwargs):
    return {r.name: r for r in ranked(db_session, **kwargs)}


def roads_with(**ferry_properties) -> str:
    doc = json.loads(json.dumps(ROADS))
    for feature in doc["features"]:
        if feature["properties"]["id"] == FERRY:
            feature["properties"].update(ferry_properties)
    return json.dumps(doc)


def test_importing_the_demo_roads_stores_every_line(db_session, network):
    rows = db_session.scalars(select(RoadSegmentRow)).all()
    assert len(rows) == len(ROADS["features"]) == len(network.segments)
    assert {r.key for r in rows} == {f["properties"]["id"] for f in ROADS["features"]}
    ferry = next(r for r in rows if r.key == FERRY)
    assert (ferry.name, ferry.road_class, ferry.speed_kmh, ferry.part) == ("Bac de Kouango", "ferry", 5.0, 0)
    assert ferry.coords == [[5.0005, 20.002], [4.99437, 19.98065]]  # stored (lat, lon)


def test_a_multilinestrings_parts_share_its_key_numbered_by_part(db_session):
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"id": "RN2", "highway": "primary"},
        "geometry": {"type": "MultiLineString",
                     "coordinates": [[[20.0, 5.0], [20.1, 5.0]], [[20.1, 5.0], [20.2, 5.1]]]},
    }]}  # fmt: skip
    service.import_roads(session=db_session, raw=json.dumps(doc))
    rows = db_session.execute(select(RoadSegmentRow.key, RoadSegmentRow.part).order_by(RoadSegmentRow.part)).all()
    assert [tuple(r) for r in rows] == [("RN2", 0), ("RN2", 1)]


def test_reimporting_replaces_the_network(db_session, network):
    doc = {"type": "FeatureCollection", "features": [f for f in ROADS["features"] if f["properties"]["id"] != FERRY]}
    service.import_roads(session=db_session, raw=json.dumps(doc))
    keys = set(db_session.scalars(select(RoadSegmentRow.key)))
    assert len(keys) == len(ROADS["features"]) - 1 and FERRY not in keys


def test_units_near_kouango_are_ranked_by_road(db_session, network):
    rankings = ranked(db_session)
    assert [r.name for r in rankings[:4]] == ["Kouango COB", "Air QRF Bangui", "Patrol Bambari-Grimari", "Grimari COB"]
    assert [r.method for r in rankings[:4]] == ["road", "air", "road", "road"]
    assert all(r.eta_s is not None for r in rankings)  # the demo network is connected
    bambari = by_name(db_session)[BAMBARI_UNIT]
    assert bambari.route == ("Bambari–Kouango", "Bac de Kouango", "Grimari–Kouango")
    assert bambari.closed_avoided == ()
    assert "via Bambari–Kouango, Bac de Kouango, Grimari–Kouango" in bambari.explanation


def test_committed_units_and_other_kinds_are_not_ranked(db_session, network):
    db_session.scalars(select(Unit).where(Unit.name == "Kouango COB")).one().status = "committed"
    db_session.flush()
    assert "Kouango COB" not in by_name(db_session)
    assert set(by_name(db_session, kinds=["police"])) == {"FPU Bangui", "FPU Bambari", "FPU Bria"}


def test_closing_the_ferry_reroutes_the_unit_that_used_it_and_says_so(db_session, network):
    before = by_name(db_session)
    service.close_segment(session=db_session, key=FERRY, reason="ferry cable broken", actor="ops")
    after = by_name(db_session)
    rerouted = after[BAMBARI_UNIT]
    assert rerouted.eta_s > before[BAMBARI_UNIT].eta_s
    assert rerouted.distance_m > before[BAMBARI_UNIT].distance_m
    assert rerouted.route == ("RN2", "Grimari–Kouango") and rerouted.closed_avoided == (FERRY,)
    assert rerouted.explanation.endswith("avoids closed segment 'Bac de Kouango'")
    assert after["Kouango COB"].eta_s == before["Kouango COB"].eta_s  # it never used the ferry


def test_reopening_the_ferry_restores_the_ranking(db_session, network):
    before = by_name(db_session)[BAMBARI_UNIT]
    service.close_segment(session=db_session, key=FERRY, reason="ferry cable broken", actor="ops")
    assert service.reopen_segment(session=db_session, key=FERRY, actor="ops") == 1
    assert service.closed_keys(session=db_session) == frozenset()
    assert by_name(db_session)[BAMBARI_UNIT] == before
    assert service.reopen_segment(session=db_session, key=FERRY, actor="ops") == 0
    closure = db_session.scalars(select(RoadClosure)).one()
    assert (closure.reason, closure.closed_by, closure.reopened_by) == ("ferry cable broken", "ops", "ops")


def test_an_expired_closure_no_longer_counts(db_session, network):
    before = by_name(db_session)[BAMBARI_UNIT]
    now = utcnow()
    service.close_segment(
        session=db_session, key=FERRY, reason="rains", actor="ops", expires_at=now - timedelta(minutes=1)
    )
    assert service.closed_keys(session=db_session) == frozenset()
    assert by_name(db_session)[BAMBARI_UNIT] == before


def test_a_closure_with_an_expiry_counts_until_then(db_session, network):
    now = utcnow()
    service.close_segment(
        session=db_session, key=FERRY, reason="rains", actor="ops", expires_at=now + timedelta(hours=6)
    )
    assert service.closed_keys(session=db_session) == {FERRY}
    assert by_name(db_session)[BAMBARI_UNIT].closed_avoided == (FERRY,)
    assert service.closed_keys(session=db_session, now=now + timedelta(hours=7)) == frozenset()


def test_closing_an_unknown_segment_raises_routing_error(db_session, network):
    with pytest.raises(service.RoutingError, match="no road segment 'Bac-de-Mobaye'"):
        service.close_segment(session=db_session, key="Bac-de-Mobaye", reason="?", actor="ops")
    assert db_session.scalar(select(func.count()).select_from(RoadClosure)) == 0


def test_the_graph_is_rebuilt_after_a_reimport_of_a_different_network(db_session, network):
    assert "Bac de Kouango" in by_name(db_session)[BAMBARI_UNIT].route  # the cached graph has the 5 km/h ferry
    # Same number of lines, so only the import time tells the cache the network changed.
    service.import_roads(session=db_session, raw=roads_with(speed_kmh=0.5))
    slow_ferry = by_name(db_session)[BAMBARI_UNIT]
    assert slow_ferry.route == ("RN2", "Grimari–Kouango")
    service.import_roads(session=db_session, raw=roads_with())
    assert "Bac de Kouango" in by_name(db_session)[BAMBARI_UNIT].route


def test_without_roads_ranking_falls_back_to_great_circle(db_session, units):
    rankings = ranked(db_session)
    assert len(rankings) == 38
    assert {r.method for r in rankings if r.name != "Air QRF Bangui"} == {"great_circle"}
    assert by_name(db_session)["Air QRF Bangui"].method == "air"
    assert by_name(db_session)["Kouango COB"].explanation.startswith("no road network loaded")


def test_importing_an_empty_network_falls_back_to_great_circle(db_session, network):
    assert by_name(db_session)["Grimari COB"].method == "road"
    service.import_roads(session=db_session, raw='{"type": "FeatureCollection", "features": []}')
    assert by_name(db_session)["Grimari COB"].method == "great_circle"


def test_a_road_name_longer_than_its_column_is_a_road_import_error_or_cut_to_fit(db_session):
    long_name = "Route de Bambari à Kouango par Grimari " * 7  # 273 characters, name is String(200)
    doc = {"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"id": "long", "name": long_name, "highway": "tertiary"},
        "geometry": {"type": "LineString", "coordinates": [[20.0, 5.0], [20.1, 5.0]]},
    }]}  # fmt: skip
    try:
        service.import_roads(session=db_session, raw=json.dumps(doc))
    except RoadImportError as exc:
        assert str(exc).startswith("features[0]")
    else:
        assert len(db_session.scalars(select(RoadSegmentRow.name)).one()) <= 200


def test_ranking_only_the_best_few_gives_the_same_top_as_ranking_every_unit(db_session, network):
    import random

    from app.core.clock import utcnow as now
    from app.escalation.service import RESPONDERS

    rng = random.Random(5)
    mobilities = ["vehicle"] * 6 + ["foot", "boat", "helicopter"]
    for i in range(1500):  # a big roster: patrols everywhere, a few boats and helicopters
        db_session.add(Unit(name=f"Patrol {i}", kind="patrol", lat=rng.uniform(2.5, 10.5), lon=rng.uniform(15, 27),
                            mobility=rng.choice(mobilities), speed_kmh=rng.choice([None, None, 30.0, 60.0]),
                            status=rng.choice(["available"] * 4 + ["committed"]), position_at=now(),
                            created_at=now(), updated_at=now()))  # fmt: skip
    db_session.flush()
    for lat, lon in [NEAR_KOUANGO, (6.54233, 21.98633), (8.4, 20.65), (4.36, 18.56), (10.2, 22.8)]:
        every = service.rank_for(session=db_session, lat=lat, lon=lon, kinds=list(RESPONDERS))
        best = service.rank_for(session=db_session, lat=lat, lon=lon, kinds=list(RESPONDERS), best=10)
        assert len(best) < len(every), "far units were not routed at all"
        assert [(r.name, r.eta_s) for r in best[:10]] == [(r.name, r.eta_s) for r in every[:10]]


def test_a_status_change_reaches_the_ranking_at_once(db_session, network):
    before = by_name(db_session)
    unit = db_session.scalar(select(Unit).where(Unit.name == BAMBARI_UNIT))
    unit.status = "committed"
    db_session.flush()
    assert BAMBARI_UNIT in before and BAMBARI_UNIT not in by_name(db_session)


def test_with_no_units_at_all_the_ranking_is_empty_not_an_error(db_session):
    assert service.rank_for(session=db_session, lat=6.5, lon=21.9, kinds=["patrol"], best=10) == []
    assert service.rank_for(session=db_session, lat=6.5, lon=21.9) == []
