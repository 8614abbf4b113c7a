"""Operator warnings: a burst of first-time numbers in one area, a CLA's many messages, and the warnings API."""

from __future__ import annotations

from sqlalchemy import select

from app.abuse.models import OperatorWarning
from app.abuse.service import FLAGGED
from app.incidents.models import IncidentEvent, Report
from tests.deployment import token_for
from tests.helpers import post_sms, register_reporter, sms_form

BURST = [
    "Attaque à Bria", "Des hommes armés attaquent Bria", "Bria attaque maintenant", "Tirs à Bria venez",
    "Attaque Bria centre", "Bria: attaque des rebelles", "On attaque Bria", "Attaque armée Bria ce matin",
    "Bria attaque hommes armés", "Attaque sur Bria, aidez nous", "Bria, des tirs partout",
]  # fmt: skip


def warnings(factory) -> list[OperatorWarning]:
    with factory() as session:
        return list(session.scalars(select(OperatorWarning).order_by(OperatorWarning.id)))


def test_a_burst_of_unknown_numbers_in_one_area_raises_one_possible_decoy_warning(kengele, factory):
    for i, body in enumerate(BURST):
        assert post_sms(kengele.client, sms_form(From=f"+2367230{i:04d}", Body=body)).status_code == 200
    kengele.work()
    [warning] = warnings(factory)
    assert warning.kind == "unknown_burst" and warning.sender_count >= 10 and warning.reporter_id is None
    assert warning.message_count == len(BURST) - 9, "counted from the tenth sender on"
    with factory() as session:
        flagged = session.scalars(select(IncidentEvent.incident_id).where(IncidentEvent.kind == FLAGGED)).all()
        incidents = set(session.scalars(select(Report.incident_id)))
    assert set(flagged) <= incidents and flagged, "the incident standing on the burst is flagged on its timeline"


def test_a_few_unknown_numbers_or_a_cla_sending_many_raise_nothing(kengele, factory, vault):
    for i, body in enumerate(BURST[:9]):
        post_sms(kengele.client, sms_form(From=f"+2367231{i:04d}", Body=body))
    register_reporter(factory, vault, "+23672399999", kind="cla")
    for i in range(12):
        post_sms(kengele.client, sms_form(From="+23672399999", Body=f"Attaque à Ndélé, {i + 1} morts"))
    kengele.work()
    assert warnings(factory) == []


def test_operators_see_warnings_masked_and_mark_them_seen(kengele, factory):
    for i in range(8):
        post_sms(kengele.client, sms_form(From="+23675990002", Body=f"Attaque à Ouadda numéro {i}"))
    kengele.work()
    viewer = token_for(kengele.client, factory, "viewer")
    [listed] = kengele.client.get("/api/v1/warnings", headers=viewer).json()
    assert listed["kind"] == "sender_flood" and listed["message_count"] == 3 and listed["incident_ref"]
    assert listed["reporter"].startswith("+236 ") and "990002" not in listed["reporter"]
    assert kengele.client.post(f"/api/v1/warnings/{listed['id']}/acknowledge", headers=viewer).status_code == 403
    operator = token_for(kengele.client, factory, "operator", "op1")
    seen = kengele.client.post(f"/api/v1/warnings/{listed['id']}/acknowledge", headers=operator).json()
    assert seen["acknowledged_by"] == "op1"
    assert kengele.client.get("/api/v1/warnings?unacknowledged=true", headers=viewer).json() == []
    assert kengele.client.post("/api/v1/warnings/999999/acknowledge", headers=operator).status_code == 404
    assert kengele.client.get("/api/v1/warnings").status_code == 401
