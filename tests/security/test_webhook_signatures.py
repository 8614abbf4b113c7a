"""Every webhook refuses forged, tampered, missing and stale signatures, and a replay creates nothing new:
Twilio's five endpoints (X-Twilio-Signature over URL and form) and the partner intake (key + HMAC over the body)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select

from app.core.config import Mode
from app.intake.models import InboundMessage
from app.security.signatures import partner_signature, sign_twilio
from tests.conftest import TWILIO_ACCOUNT, TWILIO_TOKEN
from tests.helpers import PARTNER_PATH, new_sid, partner_body, post_partner, sms_form

BASE = "http://testserver"


def _call(digits: str | None = None, **extra: str) -> dict[str, str]:
    form = {"CallSid": new_sid("CA"), "AccountSid": TWILIO_ACCOUNT, "From": "+23672110004", "To": "+23670000000"}
    if digits is not None:
        form["Digits"] = digits
    return form | extra


# Each Twilio webhook with a form Twilio would send it, and the answer when the signature is good.
TWILIO_WEBHOOKS = {
    "/twilio/sms": (lambda: sms_form(), 200),
    "/twilio/voice": (lambda: _call(CallStatus="ringing"), 200),
    "/twilio/status": (lambda: {"MessageSid": new_sid(), "AccountSid": TWILIO_ACCOUNT, "MessageStatus": "delivered"},
                       204),
    "/twilio/voice/gather": (lambda: _call("1"), 200),
    "/twilio/voice/confirm": (lambda: _call("1"), 200),
}  # fmt: skip
PARTNER_WEBHOOKS = {PARTNER_PATH}


def _routes(app):
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            yield method, route.path, route


def _depends_on(route, names: set[str]) -> bool:
    def calls(dependant):
        for sub in dependant.dependencies:
            yield getattr(sub.call, "__name__", "")
            yield from calls(sub)

    dependant = getattr(route, "dependant", None)
    return dependant is not None and bool(names & set(calls(dependant)))


def test_every_webhook_route_is_covered_here(client):
    """A new Twilio or partner webhook fails this test until its signature checks are added to this file."""
    found = {
        path for method, path, route in _routes(client.app)
        if (method == "POST" and path.startswith("/twilio"))
        or "/partner/" in path
        or _depends_on(route, {"verified_twilio_form", "verified_twilio_fields", "authenticated_partner"})
    }  # fmt: skip
    assert found == set(TWILIO_WEBHOOKS) | PARTNER_WEBHOOKS


def _post_twilio(client, path: str, form: dict[str, str], *, signature: str | None, url: str | None = None):
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return client.post(url or path, data=form, headers=headers)


def _inbox(factory) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(InboundMessage))


@pytest.mark.parametrize("path", TWILIO_WEBHOOKS)
def test_twilio_webhooks_accept_only_twilios_signature(client, factory, path):
    """Signed with the auth token over this URL and these fields: accepted; any change: 403, nothing stored."""
    make_form, accepted = TWILIO_WEBHOOKS[path]
    url = BASE + path
    form = make_form()
    good = sign_twilio(auth_token=TWILIO_TOKEN, url=url, params=form)
    forgeries = {
        "wrong key": (form, sign_twilio(auth_token="not-" + TWILIO_TOKEN, url=url, params=form), None),
        "tampered field": ({**form, "From": "+23672999999"}, good, None),
        "added field": ({**form, "Extra": "1"}, good, None),
        "dropped field": ({k: v for k, v in form.items() if k != "AccountSid"}, good, None),
        "signed for another URL": (form, sign_twilio(auth_token=TWILIO_TOKEN, url=BASE + "/twilio/other", params=form),
                                   None),
        "query added to the URL": (form, good, path + "?Digits=2"),
        "missing": (form, None, None),
        "empty": (form, "", None),
        "not base64": (form, "%%%", None),
    }  # fmt: skip
    stored = _inbox(factory)
    for reason, (sent, signature, other_url) in forgeries.items():
        answer = _post_twilio(client, path, sent, signature=signature, url=other_url)
        assert answer.status_code == 403, (reason, answer.status_code, answer.text)
    assert _inbox(factory) == stored  # nothing forged reached the inbox
    answer = _post_twilio(client, path, form, signature=good)
    assert answer.status_code == accepted, answer.text  # the same request, truly signed, goes through


@pytest.mark.parametrize("path", ["/twilio/sms", "/twilio/voice"])
def test_a_replayed_twilio_message_or_call_is_stored_once(client, factory, path):
    """Twilio retries, and an attacker may replay a captured request: the provider id is stored once."""
    form = TWILIO_WEBHOOKS[path][0]()
    signature = sign_twilio(auth_token=TWILIO_TOKEN, url=BASE + path, params=form)
    first = _post_twilio(client, path, form, signature=signature)
    again = [_post_twilio(client, path, form, signature=signature) for _ in range(3)]
    assert first.status_code == 200 and all(a.status_code == 200 for a in again)
    assert {a.text for a in again} == {first.text}  # the same receipt, nothing new
    with factory() as session:
        sid = form.get("MessageSid") or form["CallSid"]
        assert session.scalar(select(func.count()).where(InboundMessage.external_id == sid)) == 1
    assert _inbox(factory) == 1


@pytest.mark.parametrize("path", TWILIO_WEBHOOKS)
def test_without_an_auth_token_twilio_webhooks_are_closed(make_client, factory, path):
    """Production without KENGELE_TWILIO_AUTH_TOKEN: every Twilio webhook refuses, whatever signature comes."""
    closed = make_client(mode=Mode.production, twilio_auth_token=None)  # the fixture's explicit secret_key stays
    assert closed.app.state.keys.twilio_auth_token is None
    form = TWILIO_WEBHOOKS[path][0]()
    for token in (TWILIO_TOKEN, "", "None"):
        signature = sign_twilio(auth_token=token, url=BASE + path, params=form)
        answer = _post_twilio(closed, path, form, signature=signature)
        assert answer.status_code == 503, (token, answer.status_code)
    assert _post_twilio(closed, path, form, signature=None).status_code == 503
    assert _inbox(factory) == 0


def _raw(body: dict) -> bytes:
    return json.dumps(body).encode()


def _send(client, api_key: str | None, raw: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["X-Kengele-Key"] = api_key
    if signature is not None:
        headers["X-Kengele-Signature"] = signature
    return client.post(PARTNER_PATH, content=raw, headers=headers)


def test_partner_reports_accept_only_the_partners_hmac(client, factory, partner_credentials):
    """Key + HMAC-SHA256 of the raw body, recent: accepted; a forged, tampered or missing part: 401, nothing
    stored."""
    key, secret = partner_credentials.api_key, partner_credentials.signing_secret
    from app.partners import service as partner_service

    with client.app.state.sessionmaker.begin() as session:
        other = partner_service.create(session=session, vault=client.app.state.vault, name="Another network")
    raw = _raw(partner_body())
    now = int(time.time())
    good = partner_signature(secret, now, raw)
    digest = good.split("v1=")[1]
    forgeries = {
        "wrong secret": (key, raw, partner_signature("ks_" + uuid.uuid4().hex, now, raw)),
        "another partner's secret": (key, raw, partner_signature(other.signing_secret, now, raw)),
        "another partner's key": (other.api_key, raw, good),
        "tampered body": (key, raw.replace(b"Bozoum", b"Bangui"), good),
        "whitespace added": (key, raw + b" ", good),
        "timestamp changed": (key, raw, f"t={now + 1},v1={digest}"),
        "unknown key": ("kp_" + uuid.uuid4().hex, raw, good),
        "missing key": (None, raw, good),
        "missing signature": (key, raw, None),
        "empty signature": (key, raw, ""),
        "no timestamp": (key, raw, f"v1={digest}"),
        "no digest": (key, raw, f"t={now}"),
        "other scheme": (key, raw, f"t={now},v0={digest}"),
        "uppercase digest": (key, raw, f"t={now},v1={digest.upper()}"),
    }
    for reason, (api_key, sent, signature) in forgeries.items():
        answer = _send(client, api_key, sent, signature)
        assert answer.status_code == 401, (reason, answer.status_code, answer.text)
    assert _inbox(factory) == 0
    assert _send(client, key, raw, good).status_code == 202  # the genuine request goes through


def test_a_revoked_partner_is_refused(client, factory, partner_credentials):
    from app.partners import service as partner_service

    with client.app.state.sessionmaker.begin() as session:
        partner_service.revoke(session=session, name="Église du Christ Bangui")
    answer = post_partner(client, partner_credentials.api_key, partner_credentials.signing_secret, partner_body())
    assert answer.status_code == 401 and _inbox(factory) == 0


# Just past the window each way. A future timestamp comes closer while the request is on its way (at -301 a second
# that ticked over between signing and checking made it exactly 300, inside: a CI run failed on it), so -305.
@pytest.mark.parametrize("age", [301, 3600, -305, -86400])
def test_a_stale_or_future_partner_signature_is_refused(client, factory, partner_credentials, age):
    """Outside the 300 s window (either way), even a correct HMAC is refused: a captured request expires."""
    key, secret = partner_credentials.api_key, partner_credentials.signing_secret
    assert client.app.state.settings.partner_signature_tolerance_seconds == 300
    answer = post_partner(client, key, secret, partner_body(), timestamp=int(time.time()) - age)
    assert answer.status_code == 401 and "window" in answer.json()["detail"]
    assert _inbox(factory) == 0
    inside = post_partner(client, key, secret, partner_body(), timestamp=int(time.time()) - 200 * (age // abs(age)))
    assert inside.status_code == 202


def test_a_replayed_partner_request_creates_nothing_and_cannot_carry_another_body(client, factory, partner_credentials):
    """The same bytes and signature again: 200 duplicate, one message; a new body under the old signature: 401;
    the same key, signed, with a different report: 409."""
    key, secret = partner_credentials.api_key, partner_credentials.signing_secret
    body = partner_body()
    raw, now = _raw(body), int(time.time())
    signature = partner_signature(secret, now, raw)
    first = _send(client, key, raw, signature)
    assert first.status_code == 202 and first.json()["status"] == "accepted"
    replays = [_send(client, key, raw, signature) for _ in range(3)]
    assert all(r.status_code == 200 and r.json() == {**first.json(), "status": "duplicate"} for r in replays)
    assert _inbox(factory) == 1
    for changed in ({**body, "text": "Tout va bien à Bozoum"}, {**body, "idempotency_key": uuid.uuid4().hex}):
        assert _send(client, key, _raw(changed), signature).status_code == 401  # the old signature covers old bytes
    conflict = post_partner(client, key, secret, {**body, "text": "Tout va bien à Bozoum"})
    assert conflict.status_code == 409
    assert _inbox(factory) == 1
