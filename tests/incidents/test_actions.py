"""The operations centre's other actions through the API: merge, split, reject, priority, dispatch, notes, claims
and the reporters. Each works, is audited, shows on the timeline, is refused to a viewer, and says why it refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.core.db import transaction
from app.escalation.models import Escalation, Timer
from app.feed.models import FeedEventRow
from app.incidents.models import Incident, Report
from app.notify.models import Notification
from app.units.models import Unit
from tests.deployment import token_for, unit_numbers
from tests.helpers import post_sms, sms_form

API = "/api/v1/incidents"
BRIA = "Attaque des hommes armés à Bria, 12 morts"
NDELE = "Des hommes armés vus près de Ndélé hier, on a peur"


def report(kengele, body: str, sender: str = "+23672110004") -> None:
    assert post_sms(kengele.client, sms_form(From=sender, Body=body)).status_code == 200
    kengele.work()


@pytest.fixture
def operator(kengele, factory) -> dict[str, str]:
    return token_for(kengele.client, factory, "operator", "op.amina")


@pytest.fixture
def viewer(kengele, factory) -> dict[str, str]:
    return token_for(kengele.client, factory, "viewer", "view.ben")


def refs(kengele, headers, **params) -> dict[str, dict]:
    """The listed incidents by place."""
    items = kengele.client.get(API, headers=headers, params=params).json()["items"]
    return {i["place"]: i for i in items}


def detail(kengele, headers, ref: str) -> dict:
    answer = kengele.client.get(f"{API}/{ref}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def timeline(kengele, headers, ref: str, kind: str) -> list[dict]:
    return [e for e in detail(kengele, headers, ref)["timeline"] if e["kind"] == kind]


def audited(factory, action: str) -> list[AuditEntry]:
    with factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def refused_to_viewer(kengele, viewer, method: str, path: str, body: dict | None = None) -> None:
    answer = kengele.client.request(method, path, headers=viewer, json=body)
    assert answer.status_code == 403, (path, answer.status_code)


def test_merge_folds_one_incident_into_another_and_refuses_nonsense(kengele, factory, operator, viewer):
    report(kengele, BRIA)
    report(kengele, NDELE, "+23672110005")
    listed = refs(kengele, operator)
    bria = listed.pop("Bria")["ref"]
    [ndele] = [i["ref"] for i in listed.values()]
    refused_to_viewer(kengele, viewer, "POST", f"{API}/{bria}/merge", {"absorb": ndele})
    itself = kengele.client.post(f"{API}/{bria}/merge", headers=operator, json={"absorb": bria.lower()})
    assert itself.status_code == 422 and "not " + bria + " twice" in itself.json()["detail"]
    unknown = kengele.client.post(f"{API}/{bria}/merge", headers=operator, json={"absorb": "K-0000"})
    assert unknown.status_code == 422 and "K-0000" in unknown.json()["detail"]
    assert kengele.client.post(f"{API}/{bria}/merge", headers=operator, json={"absorb": "x"}).status_code == 422

    merged = kengele.client.post(f"{API}/{bria}/merge", headers=operator, json={"absorb": ndele})
    assert merged.status_code == 200 and merged.json()["report_count"] == 2
    assert detail(kengele, operator, ndele)["status"] == "merged"
    assert timeline(kengele, operator, bria, "merged")[0]["actor"] == "op.amina"
    [entry] = audited(factory, "incident.merge")
    assert (entry.actor, entry.target, entry.detail) == ("op.amina", f"incident:{bria}", {"absorbed": ndele})
    again = kengele.client.post(f"{API}/{bria}/merge", headers=operator, json={"absorb": ndele})
    assert again.status_code == 409 and "merged" in again.json()["detail"]
    with factory() as session:  # the absorbed incident stops escalating at once
        absorbed = session.scalars(select(Incident).where(Incident.ref == ndele)).one()
        assert session.scalars(select(Escalation).where(Escalation.incident_id == absorbed.id)).one().state != "active"


def test_split_makes_a_new_escalated_incident_of_some_reports(kengele, factory, operator, viewer):
    report(kengele, BRIA)
    report(kengele, "Attaque à Bria, des maisons brûlées, 12 morts", "+23672110005")
    [incident] = refs(kengele, operator).values()
    ref = incident["ref"]
    ids = [r["id"] for r in detail(kengele, operator, ref)["reports"]]
    assert len(ids) == 2
    refused_to_viewer(kengele, viewer, "POST", f"{API}/{ref}/split", {"report_ids": ids[1:]})
    for body in ({"report_ids": ids}, {"report_ids": [ids[0], 999_999]}, {"report_ids": []}):
        answer = kengele.client.post(f"{API}/{ref}/split", headers=operator, json=body)
        assert answer.status_code == 422, body
    assert "not all" in kengele.client.post(f"{API}/{ref}/split", headers=operator, json={"report_ids": ids}).text

    answer = kengele.client.post(f"{API}/{ref}/split", headers=operator, json={"report_ids": ids[1:]})
    assert answer.status_code == 201
    new = answer.json()
    assert new["ref"] != ref and new["report_count"] == 1 and new["status"] == "escalated" and new["priority"]
    assert detail(kengele, operator, ref)["report_count"] == 1
    assert timeline(kengele, operator, ref, "split")[0]["data"]["to"] == new["ref"]
    assert detail(kengele, operator, new["ref"])["escalation"]["state"] == "active"  # another event: units told
    assert audited(factory, "incident.split")[0].detail == {"into": new["ref"], "reports": 1}


def test_rejecting_reports_reevaluates_and_the_last_one_stands_the_units_down(kengele, factory, operator, viewer):
    report(kengele, BRIA)
    report(kengele, "Attaque à Bria, des maisons brûlées, 12 morts", "+23672110005")
    [incident] = refs(kengele, operator).values()
    ref = incident["ref"]
    first, second = (r["id"] for r in detail(kengele, operator, ref)["reports"])
    kengele.send()
    refused_to_viewer(kengele, viewer, "POST", f"/api/v1/reports/{first}/reject", {"reason": "decoy"})
    answer = kengele.client.post(f"/api/v1/reports/{first}/reject", headers=operator, json={"reason": "decoy"})
    assert answer.status_code == 200 and answer.json()["report_count"] == 1 and answer.json()["status"] == "escalated"
    again = kengele.client.post(f"/api/v1/reports/{first}/reject", headers=operator, json={})
    assert again.status_code == 409 and "already rejected" in again.json()["detail"]
    assert kengele.client.post("/api/v1/reports/999999/reject", headers=operator, json={}).status_code == 404

    last = kengele.client.post(f"/api/v1/reports/{second}/reject", headers=operator)
    assert last.status_code == 200 and last.json()["status"] == "false_alarm"
    lines = detail(kengele, operator, ref)["timeline"]
    assert [e["data"]["reason"] for e in lines if e["kind"] == "report_rejected"] == ["decoy", None]
    assert any(e["kind"] == "stood_down" and e["data"]["messages"] > 0 for e in lines)
    assert [e.target for e in audited(factory, "report.reject")] == [f"report:{first}", f"report:{second}"]


def test_an_operators_priority_is_kept_on_the_timeline_and_survives_new_reports(kengele, factory, operator, viewer):
    report(kengele, BRIA)
    [incident] = refs(kengele, operator).values()
    ref, computed = incident["ref"], incident["priority"]
    assert computed in ("P1", "P2")
    refused_to_viewer(kengele, viewer, "POST", f"{API}/{ref}/priority", {"priority": "P4", "reason": "x"})
    for body in ({"priority": "P5", "reason": "x"}, {"priority": "P4"}, {"priority": "P4", "reason": ""}):
        assert kengele.client.post(f"{API}/{ref}/priority", headers=operator, json=body).status_code == 422, body

    body = {"priority": "P4", "reason": "a rehearsal the JOC announced"}
    answer = kengele.client.post(f"{API}/{ref}/priority", headers=operator, json=body)
    assert answer.status_code == 200 and (answer.json()["priority"], answer.json()["priority_override"]) == ("P4", "P4")
    report(kengele, "Attaque à Bria, 14 morts, des maisons brûlées", "+23672110005")  # re-prioritised: kept
    [incident] = refs(kengele, operator).values()
    assert incident["priority"] == "P4" and incident["report_count"] == 2
    assert incident["priority_reasons"][0].startswith("set by an operator")
    [line] = timeline(kengele, operator, ref, "priority")
    assert line["actor"] == "op.amina" and line["data"]["reason"] == body["reason"]
    assert (line["data"]["from"], line["data"]["to"]) == (computed, "P4")
    assert audited(factory, "incident.priority")[0].detail == {"priority": "P4"}


def test_a_stricter_priority_tightens_the_active_escalation(kengele, factory, operator):
    report(kengele, NDELE)
    [incident] = refs(kengele, operator).values()
    with factory() as session:
        escalation = session.scalars(select(Escalation)).one()
        before = session.scalars(select(Timer).where(Timer.fired_at.is_(None))).one().due_at
    assert escalation.priority in ("P3", "P4")
    body = {"priority": "P1", "reason": "the JOC has a second source"}
    assert kengele.client.post(f"{API}/{incident['ref']}/priority", headers=operator, json=body).status_code == 200
    with factory() as session:
        assert session.scalars(select(Escalation)).one().priority == "P1"
        after = session.scalars(select(Timer).where(Timer.fired_at.is_(None))).one().due_at
    assert after < before  # the deadline being waited on is now P1's


def test_dispatch_alerts_the_chosen_unit_on_all_its_channels(kengele, factory, vault, twilio_api, operator, viewer):
    report(kengele, BRIA)
    [incident] = refs(kengele, operator).values()
    ref = incident["ref"]
    with factory() as session:
        unit = session.scalars(select(Unit).where(Unit.name == "Sector Centre HQ")).one()
    refused_to_viewer(kengele, viewer, "POST", f"{API}/{ref}/dispatch", {"unit_id": unit.id})
    unknown = kengele.client.post(f"{API}/{ref}/dispatch", headers=operator, json={"unit_id": 999_999})
    assert unknown.status_code == 422 and "no unit" in unknown.json()["detail"]
    assert kengele.client.post(f"{API}/{ref}/acknowledge", headers=operator).status_code == 200
    kengele.send()
    seen = len(twilio_api.fake.created("Messages"))

    body = {"unit_id": unit.id, "note": "QRF from Kaga Bandoro"}
    answer = kengele.client.post(f"{API}/{ref}/dispatch", headers=operator, json=body)
    assert answer.status_code == 200 and answer.json()["status"] == "responding"
    assert kengele.client.post(f"{API}/{ref}/dispatch", headers=operator, json=body).status_code == 200  # again
    with factory() as session:
        rows = session.scalars(select(Notification).where(Notification.purpose == "dispatch")).all()
    assert {r.channel for r in rows} == {"sms", "voice"} and len(rows) == 4 and len({r.key for r in rows}) == 4
    kengele.send()  # not canceled by the acknowledgement that came before
    number = unit_numbers(factory, vault, "Sector Centre HQ")["Sector Centre HQ"]
    texts = [m.get("Body") for m in twilio_api.fake.created("Messages")[seen:] if m.get("To") == number]
    assert len(texts) == 2 and all(f"ACK {ref}" in t and "Bria" in t for t in texts)
    lines = timeline(kengele, operator, ref, "dispatched")
    assert lines[0]["data"]["unit"] == "Sector Centre HQ" and lines[0]["data"]["by"] == "op.amina"
    assert len(audited(factory, "incident.dispatch")) == 2


def test_notes_go_on_the_timeline_and_never_into_the_feed(kengele, factory, operator, viewer):
    report(kengele, BRIA)
    [incident] = refs(kengele, operator).values()
    ref, text = incident["ref"], "Called the mayor of Bria: confirms shooting near the market"
    refused_to_viewer(kengele, viewer, "POST", f"{API}/{ref}/notes", {"text": text})
    assert kengele.client.post(f"{API}/{ref}/notes", headers=operator, json={"text": ""}).status_code == 422
    answer = kengele.client.post(f"{API}/{ref}/notes", headers=operator, json={"text": text})
    assert answer.status_code == 201 and answer.json()["data"] == {"text": text}
    [line] = timeline(kengele, operator, ref, "note")
    assert (line["actor"], line["data"]["text"]) == ("op.amina", text)
    with factory() as session:
        feed = session.scalars(select(FeedEventRow).where(FeedEventRow.kind == "incident.note")).one()
    assert "mayor" not in str(feed.data) and set(feed.data) <= {"status", "category", "exercise"}
    [entry] = audited(factory, "incident.note")
    assert "mayor" not in str(entry.detail)


def test_claims_say_who_is_on_it_and_a_live_claim_is_taken_only_by_force(kengele, factory, operator, viewer):
    report(kengele, BRIA)
    [incident] = refs(kengele, operator).values()
    ref, other = incident["ref"], token_for(kengele.client, factory, "operator", "op.chloe")
    refused_to_viewer(kengele, viewer, "POST", f"{API}/{ref}/claim")
    refused_to_viewer(kengele, viewer, "DELETE", f"{API}/{ref}/claim")
    assert kengele.client.post(f"{API}/{ref}/claim", headers=operator).json()["claimed_by"] == "op.amina"
    assert refs(kengele, viewer)["Bria"]["claimed_by"] == "op.amina"
    assert detail(kengele, viewer, ref)["claimed_at"]
    taken = kengele.client.post(f"{API}/{ref}/claim", headers=other, json={})
    assert taken.status_code == 409 and "claimed by op.amina" in taken.json()["detail"]
    forced = kengele.client.post(f"{API}/{ref}/claim", headers=other, json={"force": True})
    assert forced.status_code == 200 and forced.json()["claimed_by"] == "op.chloe"
    with transaction(factory) as session:  # op.chloe went home without releasing it
        claimed = session.scalars(select(Incident).where(Incident.ref == ref)).one()
        claimed.claimed_at -= timedelta(minutes=31)
    assert kengele.client.post(f"{API}/{ref}/claim", headers=operator).json()["claimed_by"] == "op.amina"
    released = kengele.client.delete(f"{API}/{ref}/claim", headers=operator)
    assert released.status_code == 200 and released.json()["claimed_by"] is None
    lines = [(e["kind"], e["actor"], e["data"].get("from")) for e in detail(kengele, viewer, ref)["timeline"]
             if e["kind"] in ("claimed", "released")]  # fmt: skip
    assert lines == [("claimed", "op.amina", None), ("claimed", "op.chloe", "op.amina"),
                     ("claimed", "op.amina", "op.chloe"), ("released", "op.amina", None)]  # fmt: skip
    assert [e.action for e in audited(factory, "incident.claim")] == ["incident.claim"] * 3
    assert len(audited(factory, "incident.release")) == 1


def test_reporters_are_listed_masked_and_a_number_is_revealed_only_to_call_backs(kengele, factory, viewer, operator):
    report(kengele, BRIA, "+23672110004")
    report(kengele, NDELE, "+23672110005")
    page = kengele.client.get("/api/v1/reporters", headers=viewer, params={"limit": 1})
    assert page.status_code == 200 and page.json()["next_offset"] == 1
    [latest] = page.json()["items"]
    assert latest["phone_masked"] == "+236 ••••••05" and latest["kind"] == "villager" and latest["trust"] == 0.5
    assert {"confirmed_reports", "false_reports", "last_seen_at", "home_place", "language"} <= set(latest)
    everyone = kengele.client.get("/api/v1/reporters", headers=viewer)
    assert "72110004" not in everyone.text and "72110005" not in everyone.text
    assert everyone.json()["next_offset"] is None and len(everyone.json()["items"]) == 2

    path = f"/api/v1/reporters/{latest['id']}/number"
    for headers in (viewer, operator):
        assert kengele.client.get(path, headers=headers).status_code == 403
    callback = token_for(kengele.client, factory, "callback", "cb.dora")
    assert kengele.client.get(path, headers=callback).json() == {"number": "+23672110005"}
    assert kengele.client.get("/api/v1/reporters/999999/number", headers=callback).status_code == 404
    [entry] = audited(factory, "reporter.reveal")
    assert (entry.actor, entry.target, entry.detail) == ("cb.dora", f"reporter:{latest['id']}", {"via": "api"})


def test_a_closed_incident_takes_no_claim_priority_or_dispatch(kengele, factory, operator):
    report(kengele, BRIA)
    [incident] = refs(kengele, operator).values()
    ref = incident["ref"]
    [only] = detail(kengele, operator, ref)["reports"]
    assert (
        kengele.client.post(f"/api/v1/reports/{only['id']}/reject", headers=operator).json()["status"] == "false_alarm"
    )
    with factory() as session:
        assert session.get(Report, only["id"]).rejected_at is not None
        unit_id = session.scalars(select(Unit.id)).first()
    for action, body in (
        ("claim", {}),
        ("priority", {"priority": "P1", "reason": "x"}),
        ("dispatch", {"unit_id": unit_id}),
    ):
        answer = kengele.client.post(f"{API}/{ref}/{action}", headers=operator, json=body)
        assert answer.status_code == 409 and "false_alarm" in answer.json()["detail"], action
