"""Incidents through the API: most urgent first, one incident in full with reporters masked, and the operations
centre acknowledging and resolving."""

from __future__ import annotations

from sqlalchemy import select

from app.escalation.models import Escalation
from tests.deployment import token_for
from tests.helpers import post_sms, sms_form

VILLAGER = "+23672110004"


def report(kengele, body: str, sender: str = VILLAGER) -> None:
    post_sms(kengele.client, sms_form(From=sender, Body=body))
    kengele.work()


def test_incidents_come_most_urgent_first_and_filter(kengele, factory):
    report(kengele, "Des hommes armés vus près de Ndélé hier, on a peur")
    report(kengele, "Attaque des hommes armés à Bria, 12 morts", "+23672110005")
    viewer = token_for(kengele.client, factory, "viewer")
    page = kengele.client.get("/api/v1/incidents", headers=viewer).json()
    priorities = [i["priority"] for i in page["items"]]
    assert len(priorities) == 2 and priorities == sorted(priorities) and page["next_offset"] is None
    assert page["items"][0]["place"] == "Bria" and page["items"][0]["priority_reasons"]
    first_only = kengele.client.get("/api/v1/incidents", params={"limit": 1}, headers=viewer).json()
    assert len(first_only["items"]) == 1 and first_only["next_offset"] == 1
    urgent = kengele.client.get("/api/v1/incidents", params={"priority": priorities[0]}, headers=viewer).json()
    assert {i["priority"] for i in urgent["items"]} == {priorities[0]}
    east = kengele.client.get("/api/v1/incidents", params={"bbox": "21.5,6.0,22.5,7.0"}, headers=viewer).json()
    assert [i["place"] for i in east["items"]] == ["Bria"]
    assert kengele.client.get("/api/v1/incidents", params={"bbox": "1,2,3"}, headers=viewer).status_code == 422


def test_the_detail_shows_reports_masked_the_timeline_and_the_escalation(kengele, factory):
    report(kengele, "Attaque des hommes armés à Bria, 12 morts")
    viewer = token_for(kengele.client, factory, "viewer")
    [incident] = kengele.client.get("/api/v1/incidents", headers=viewer).json()["items"]
    detail = kengele.client.get(f"/api/v1/incidents/{incident['ref']}", headers=viewer)
    body = detail.json()
    assert body["reports"][0]["body"] == "Attaque des hommes armés à Bria, 12 morts"
    assert body["reports"][0]["reporter"] == "+236 ••••••04"
    assert VILLAGER not in detail.text and "11000" not in detail.text
    kinds = [e["kind"] for e in body["timeline"]]
    assert kinds[0] == "created" and {"escalation_started", "verification_requested", "notified"} <= set(kinds)
    assert body["escalation"]["state"] == "active" and body["escalation"]["ranking"][0]["explanation"]
    assert kengele.client.get("/api/v1/incidents/K-0000", headers=viewer).status_code == 404


def test_the_operations_centre_acknowledges_then_resolves(kengele, factory, twilio_api):
    report(kengele, "Attaque des hommes armés à Bria, 12 morts")
    operator = token_for(kengele.client, factory, "operator", "op.amina")
    [incident] = kengele.client.get("/api/v1/incidents", headers=operator).json()["items"]
    ref = incident["ref"]
    acked = kengele.client.post(f"/api/v1/incidents/{ref}/acknowledge", headers=operator, json={"note": "QRF told"})
    assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
    assert kengele.client.post(f"/api/v1/incidents/{ref}/acknowledge", headers=operator).status_code == 409
    with factory() as session:
        escalation = session.scalars(select(Escalation)).one()
    assert (escalation.state, escalation.acknowledged_by) == ("acknowledged", "op.amina")
    resolved = kengele.client.post(f"/api/v1/incidents/{ref}/resolve", headers=operator)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert kengele.client.post(f"/api/v1/incidents/{ref}/resolve", headers=operator).status_code == 409
    listed = kengele.client.get("/api/v1/incidents", headers=operator).json()["items"]
    assert listed == []  # the default list is the open incidents
    kengele.send()
    assert [r.get("To") for r in twilio_api.fake.created("Messages")][-1] == VILLAGER  # told it was passed on
