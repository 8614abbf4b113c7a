"""POST /api/v1/partner/reports: per-partner keys, HMAC of the raw body, idempotency, validation."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from app.intake.models import InboundMessage
from app.partners import service as partner_service
from app.partners.service import IssuedCredentials
from tests.helpers import partner_body, post_partner


@pytest.fixture
def partner(partner_credentials) -> IssuedCredentials:
    return partner_credentials


def inbox(client) -> list[InboundMessage]:
    with client.app.state.sessionmaker() as session:
        return list(session.scalars(select(InboundMessage).where(InboundMessage.source == "partner")))


def test_signed_report_is_accepted_and_stored_encrypted(client, partner):
    body = partner_body(
        reporter={"member_id": "m-17", "phone": "+23675111222", "language": "sg"},
        location={"lat": 6.49, "lon": 16.33, "precision_m": 500},
        place_name="Bozoum",
        category="attack",
    )
    response = post_partner(client, partner.api_key, partner.signing_secret, body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    [row] = inbox(client)
    assert row.external_id == f"{partner.partner_id}:{body['idempotency_key']}"
    assert row.receipt_ref == response.json()["receipt"]
    assert "+23675111222" not in row.payload_encrypted
    payload = json.loads(client.app.state.vault.decrypt(row.payload_encrypted))
    assert payload["hints"]["location"] == {"lat": 6.49, "lon": 16.33, "precision_m": 500.0}
    assert payload["sender_phone"] == "+23675111222" and payload["language"] == "sg"


def test_same_key_is_idempotent(client, partner):
    body = partner_body()
    first = post_partner(client, partner.api_key, partner.signing_secret, body)
    again = post_partner(client, partner.api_key, partner.signing_secret, body)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"receipt": first.json()["receipt"], "status": "duplicate"}
    assert len(inbox(client)) == 1


def test_same_key_with_a_different_report_is_409(client, partner):
    body = partner_body()
    assert post_partner(client, partner.api_key, partner.signing_secret, body).status_code == 202
    changed = {**body, "text": "autre chose"}
    response = post_partner(client, partner.api_key, partner.signing_secret, changed)
    assert response.status_code == 409
    assert len(inbox(client)) == 1


def test_two_partners_may_use_the_same_key(client, partner):
    with client.app.state.sessionmaker.begin() as session:
        other = partner_service.create(session=session, vault=client.app.state.vault, name="ONG Mbi Yeke")
    body = partner_body(idempotency_key="report-1")
    assert post_partner(client, partner.api_key, partner.signing_secret, body).status_code == 202
    assert post_partner(client, other.api_key, other.signing_secret, body).status_code == 202
    assert len(inbox(client)) == 2


@pytest.mark.parametrize(
    "forge",
    ["no-key", "unknown-key", "no-signature", "wrong-secret", "stale", "future", "tampered-body"],
)
def test_unauthenticated_or_forged_requests_are_401(client, partner, forge):
    body = partner_body()
    raw = json.dumps(body).encode()
    key, secret, ts, sig = partner.api_key, partner.signing_secret, None, None
    if forge == "no-key":
        key = None
    elif forge == "unknown-key":
        key = "kp_" + "x" * 32
    elif forge == "no-signature":
        sig = ""
    elif forge == "wrong-secret":
        secret = "ks_wrong"
    elif forge == "stale":
        ts = int(time.time()) - 3600
    elif forge == "future":
        ts = int(time.time()) + 3600
    elif forge == "tampered-body":
        from app.security.signatures import partner_signature

        sig = partner_signature(secret, int(time.time()), raw)
        raw = raw.replace(b"Bozoum", b"Bossembele")
    response = post_partner(client, key, secret, raw, timestamp=ts, signature=sig)
    assert response.status_code == 401
    assert response.json()["detail"]
    assert inbox(client) == []


def test_revoked_partner_is_refused(client, partner):
    with client.app.state.sessionmaker.begin() as session:
        assert partner_service.revoke(session=session, name="Église du Christ Bangui")
    response = post_partner(client, partner.api_key, partner.signing_secret, partner_body())
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", None),
        (b"[]", None),
        (json.dumps({"text": "x"}).encode(), "idempotency_key"),
        (json.dumps({"idempotency_key": "k"}).encode(), "text"),
        (json.dumps({"idempotency_key": "k", "text": ""}).encode(), "text"),
        (json.dumps({"idempotency_key": "has space", "text": "x"}).encode(), "idempotency_key"),
        (json.dumps({"idempotency_key": "k", "text": "x" * 1601}).encode(), "text"),
        (json.dumps({"idempotency_key": "k", "text": "x", "location": {"lat": 91, "lon": 0}}).encode(), "lat"),
        (json.dumps({"idempotency_key": "k", "text": "x", "surprise": 1}).encode(), "surprise"),
        (json.dumps({"idempotency_key": "k", "text": "x", "reporter": {"language": "French"}}).encode(), "language"),
        (json.dumps({"idempotency_key": "k", "text": "x", "reporter": {"phone": "+23612"}}).encode(), "phone"),
    ],
)
def test_invalid_reports_are_422_naming_the_field_without_echoing_it(client, partner, body, field):
    response = post_partner(client, partner.api_key, partner.signing_secret, body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    if field:
        assert any(field in map(str, d["loc"]) for d in detail)
    assert all(set(d) <= {"loc", "msg", "type"} for d in detail)
    assert "+23612" not in response.text
    assert inbox(client) == []
