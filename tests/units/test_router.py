"""Units through the API: admins create and replace them, operators move them and change their status, viewers
read them, and no number ever comes back unmasked."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.units.models import UnitContact
from tests.deployment import token_for

UNIT = {
    "name": "Ndélé TOB", "kind": "temporary_base", "sector": "Centre", "capabilities": ["qrf"], "mobility": "vehicle",
    "lat": 8.409, "lon": 20.653, "contacts": [
        {"channel": "sms", "address": "75 00 12 34"},
        {"channel": "webhook", "address": "https://ndele.example.org/hook?token=abc123", "secret": "0123456789abcdef"},
    ],
}  # fmt: skip


def test_an_admin_creates_a_unit_and_its_numbers_come_back_masked(client, factory, vault):
    admin = token_for(client, factory, "admin")
    created = client.post("/api/v1/units", headers=admin, json=UNIT)
    assert created.status_code == 201, created.text
    body = created.json()
    assert [c["channel"] for c in body["contacts"]] == ["sms", "webhook"]
    assert "75001234" not in created.text and "12 34" not in created.text and "abc123" not in created.text
    with factory() as session:
        stored = session.scalars(select(UnitContact).order_by(UnitContact.id)).all()
    assert vault.decrypt(stored[0].address_encrypted) == "+23675001234"  # normalised to E.164, encrypted
    assert client.post("/api/v1/units", headers=admin, json=UNIT).status_code == 409
    viewer = token_for(client, factory, "viewer")
    listed = client.get("/api/v1/units", headers=viewer)
    assert [u["name"] for u in listed.json()] == ["Ndélé TOB"] and "+23675001234" not in listed.text


def test_bad_units_are_refused_with_the_reason(client, factory):
    admin = token_for(client, factory, "admin")
    for change, reason in (
        ({"kind": "battleship"}, "kind"), ({"lat": 95}, "lat"),
        ({"contacts": [{"channel": "sms", "address": "not a number"}]}, "contacts[0]: not a phone number"),
        ({"contacts": [{"channel": "webhook", "address": "https://x.example.org"}]}, "needs a secret"),
    ):  # fmt: skip
        answer = client.post("/api/v1/units", headers=admin, json=UNIT | change)
        assert answer.status_code == 422 and reason in answer.text, (change, answer.text)


def test_an_operator_moves_a_patrol_and_changes_its_status_and_it_is_audited(client, factory):
    admin, operator = token_for(client, factory, "admin"), token_for(client, factory, "operator")
    unit_id = client.post("/api/v1/units", headers=admin, json=UNIT | {"kind": "patrol"}).json()["id"]
    moved = client.patch(f"/api/v1/units/{unit_id}", headers=operator,
                         json={"status": "committed", "lat": 8.3, "lon": 20.6, "place": "axe Ndélé-Kaga"})  # fmt: skip
    assert moved.status_code == 200
    assert (moved.json()["status"], moved.json()["lat"], moved.json()["place"]) == ("committed", 8.3, "axe Ndélé-Kaga")
    assert client.patch(f"/api/v1/units/{unit_id}", headers=operator, json={"lat": 8.3}).status_code == 422
    assert client.patch("/api/v1/units/9999", headers=operator, json={"status": "offline"}).status_code == 404
    with factory() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"unit:{unit_id}")).all()
    assert actions == ["unit.create", "unit.update"]
