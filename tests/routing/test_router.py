"""Roads through the API: an operator closes the Kouango ferry and the ranking goes round, saying why."""

from __future__ import annotations

from tests.deployment import token_for

KOUANGO = {"lat": 4.99437, "lon": 19.98065, "limit": 30}


def fpu_bambari(client, headers) -> dict:
    ranking = client.get("/api/v1/routing/rank", params=KOUANGO, headers=headers).json()
    return next(r for r in ranking if r["name"] == "FPU Bambari")


def test_closing_the_ferry_reroutes_and_the_ranking_says_why(kengele, factory):
    client = kengele.client
    viewer, operator = token_for(client, factory, "viewer"), token_for(client, factory, "operator")
    before = fpu_bambari(client, viewer)
    assert before["method"] == "road" and "Bac de Kouango" in before["route"]
    closure = {"segment_key": "Bac-de-Kouango", "reason": "ferry cable broken", "hours": 48}
    closed = client.post("/api/v1/roads/closures", headers=operator, json=closure)
    assert closed.status_code == 201 and closed.json()["closed_by"] == operator_name(client, operator)
    after = fpu_bambari(client, viewer)
    assert after["eta_s"] > before["eta_s"] and "Bac de Kouango" not in after["route"]
    assert after["closed_avoided"] == ["Bac-de-Kouango"] and "Bac de Kouango" in after["explanation"]
    roads = client.get("/api/v1/roads", headers=viewer).json()["features"]
    assert {f["properties"]["key"] for f in roads if f["properties"]["closed"]} == {"Bac-de-Kouango"}
    assert [c["reason"] for c in client.get("/api/v1/roads/closures", headers=viewer).json()] == ["ferry cable broken"]
    assert client.delete("/api/v1/roads/closures/Bac-de-Kouango", headers=operator).status_code == 204
    assert fpu_bambari(client, viewer)["eta_s"] == before["eta_s"]
    assert client.delete("/api/v1/roads/closures/Bac-de-Kouango", headers=operator).status_code == 404


def test_closing_a_segment_that_does_not_exist_is_a_404(kengele, factory):
    operator = token_for(kengele.client, factory, "operator")
    answer = kengele.client.post("/api/v1/roads/closures", headers=operator,
                                 json={"segment_key": "RN99", "reason": "no such road"})  # fmt: skip
    assert answer.status_code == 404 and "RN99" in answer.text


def test_an_admin_replaces_the_network_and_a_bad_feature_is_named(kengele, factory):
    admin = token_for(kengele.client, factory, "admin")
    bad = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"highway": "primary"},
           "geometry": {"type": "LineString", "coordinates": [[20.0, 5.0]]}}]}  # fmt: skip
    answer = kengele.client.put("/api/v1/roads", headers=admin, json=bad)
    assert answer.status_code == 422 and "features[0]" in answer.text
    assert len(kengele.client.get("/api/v1/roads", headers=admin).json()["features"]) > 20  # unchanged


def operator_name(client, headers) -> str:
    return client.get("/api/v1/auth/me", headers=headers).json()["username"]
