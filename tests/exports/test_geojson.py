"""GeoJSON export: RFC 7946 structure, [lon, lat] order, null geometry when unlocated, status and time filters."""

from __future__ import annotations

from numbers import Real
from typing import Any

from tests.deployment import token_for

URL = "/api/v1/exports/incidents.geojson"
PROPERTIES = {
    "ref", "status", "priority", "category", "acled_event_type", "acled_sub_event_type", "severity", "verification",
    "certainty", "place", "precision_m", "ring_m", "first_report_at", "last_report_at", "report_count",
    "reporter_count", "dead_min", "dead_max", "exercise",
}  # fmt: skip


def rfc7946_problems(document: dict[str, Any]) -> list[str]:
    """What makes a FeatureCollection of points break RFC 7946 (an empty list when nothing does)."""
    problems = []
    if document.get("type") != "FeatureCollection" or not isinstance(document.get("features"), list):
        return ["not a FeatureCollection with a features array"]
    if "crs" in document:
        problems.append("crs member (removed by RFC 7946 §4)")
    ids = []
    for n, feature in enumerate(document["features"]):
        if feature.get("type") != "Feature" or "geometry" not in feature or "properties" not in feature:
            problems.append(f"feature {n}: needs type Feature, geometry and properties (§3.2)")
            continue
        if "crs" in feature:
            problems.append(f"feature {n}: crs member")
        if "id" in feature:
            ids.append(feature["id"])
            if isinstance(feature["id"], bool) or not isinstance(feature["id"], str | int | float):
                problems.append(f"feature {n}: id is neither a string nor a number (§3.2)")
        if feature["properties"] is not None and not isinstance(feature["properties"], dict):
            problems.append(f"feature {n}: properties neither an object nor null")
        problems += [f"feature {n}: {p}" for p in _point_problems(feature["geometry"])]
    if len(ids) != len(set(ids)):
        problems.append("feature ids repeat")
    return problems


def _point_problems(geometry: dict[str, Any] | None) -> list[str]:
    if geometry is None:
        return []  # an unlocated feature (§3.2)
    if geometry.get("type") != "Point" or "crs" in geometry:
        return ["geometry is not a plain Point"]
    position = geometry.get("coordinates")
    if not isinstance(position, list) or len(position) not in (2, 3):
        return ["a position is two or three numbers (§3.1.1)"]
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in position):
        return ["a position holds numbers only"]
    lon, lat = position[:2]
    return [] if -180 <= lon <= 180 and -90 <= lat <= 90 else [f"position {position} out of range: [lon, lat]"]


def test_the_validator_notices_what_rfc_7946_forbids():
    good = {"type": "Feature", "id": "K-1", "geometry": {"type": "Point", "coordinates": [21.9, 6.5]}, "properties": {}}
    assert rfc7946_problems({"type": "FeatureCollection", "features": [good]}) == []
    bad = [
        {**good, "geometry": {"type": "Point", "coordinates": [6.5, 221.9]}},
        {**good, "id": True},
        {**good, "geometry": {"type": "Point", "coordinates": ["21.9", "6.5"]}},
    ]
    assert len(rfc7946_problems({"type": "FeatureCollection", "crs": {}, "features": bad})) == 5  # + crs, ids repeat


def test_open_incidents_are_rfc_7946_points_in_lon_lat_order(kengele, viewer, send, stored):
    send("Attaque des hommes armés à Bria, 12 morts")
    send("Des hommes armés vus près de Ndélé hier, on a peur", "+23672110005")
    answer = kengele.client.get(URL, headers=viewer)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/geo+json"
    document = answer.json()
    assert rfc7946_problems(document) == []
    listed = {i["ref"]: i for i in stored()}
    features = {f["id"]: f for f in document["features"]}
    assert set(features) == set(listed)
    for ref, feature in features.items():
        assert feature["geometry"]["coordinates"] == [round(listed[ref]["lon"], 6), round(listed[ref]["lat"], 6)]
        assert set(feature["properties"]) == PROPERTIES  # nothing about who reported
        assert feature["properties"]["ref"] == ref
    [bria] = [f for f in features.values() if f["properties"]["place"] == "Bria"]
    lon, lat = bria["geometry"]["coordinates"]
    assert 21.5 < lon < 22.5 and 6.0 < lat < 7.0  # Bria, not somewhere in the Gulf of Aden
    expected = {
        "status": "escalated", "category": "attack_civilians", "acled_event_type": "Violence against civilians",
        "acled_sub_event_type": "Attack", "severity": "extreme", "verification": "unverified",
        "certainty": "Possible", "dead_min": 12, "dead_max": 12, "report_count": 1, "reporter_count": 1,
    }  # fmt: skip
    assert {name: bria["properties"][name] for name in expected} == expected
    assert bria["properties"]["first_report_at"].endswith("Z") and "." not in bria["properties"]["first_report_at"]


def test_an_unlocated_incident_has_a_null_geometry(kengele, viewer, send):
    send("Attaque des hommes armés cette nuit, 3 morts, aidez nous")
    document = kengele.client.get(URL, headers=viewer).json()
    assert rfc7946_problems(document) == []
    [feature] = document["features"]
    assert feature["geometry"] is None and feature["properties"]["place"] is None
    assert feature["properties"]["dead_min"] == 3


def test_status_and_since_choose_the_incidents(kengele, viewer, send, stored, factory):
    send("Attaque des hommes armés à Bria, 12 morts")
    send("Des hommes armés vus près de Ndélé hier, on a peur", "+23672110005")
    operator = token_for(kengele.client, factory, "operator", "op.amina")
    [bria] = [i for i in stored() if i["place"] == "Bria"]
    assert kengele.client.post(f"/api/v1/incidents/{bria['ref']}/resolve", headers=operator).status_code == 200

    def refs(**params) -> list[str]:
        return [f["id"] for f in kengele.client.get(URL, params=params, headers=viewer).json()["features"]]

    assert bria["ref"] not in refs() and len(refs()) == 1  # the open ones by default
    assert refs(status="resolved") == [bria["ref"]]
    assert len(refs(status=["resolved", "escalated"])) == 2
    assert refs(since="2999-01-01T00:00:00Z") == []
    assert len(refs(since="2000-01-01T00:00:00")) == 1  # no offset: UTC
    assert kengele.client.get(URL, params={"status": "lost"}, headers=viewer).status_code == 422
