"""Builders for signed requests, used across the tests."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient

from app.intake.simulate import twilio_sms_form
from app.security.signatures import partner_signature, sign_twilio
from tests.conftest import TWILIO_TOKEN

SMS_URL = "http://testserver/twilio/sms"
PARTNER_PATH = "/api/v1/partner/reports"


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


def sms_form(**fields: str) -> dict[str, str]:
    """A Twilio inbound SMS form as Twilio sends it; override any field."""
    sid = new_sid()
    form = twilio_sms_form(
        message_sid=sid, sender="+23675123456", body="Hommes armés à Ayorkpo", account_sid="AC" + "1" * 32
    )
    form.update(fields)
    return form


def register_reporter(factory, vault, phone: str, **fields):
    """Register a reporter by phone (as the worker would on first contact) and set extra fields."""
    from app.core.db import transaction
    from app.reporters import service as reporter_service

    with transaction(factory) as session:
        reporter = reporter_service.get_or_create(
            session=session, vault=vault, identity_hash=reporter_service.phone_identity(vault, phone), phone=phone
        )
        for name, value in fields.items():
            setattr(reporter, name, value)


def post_sms(
    client: TestClient,
    form: dict[str, str],
    *,
    url: str = SMS_URL,
    signed_url: str | None = None,
    token: str = TWILIO_TOKEN,
    signature: str | None = None,
) -> httpx.Response:
    """POST a form to /twilio/sms signed like Twilio (against signed_url, default the URL posted to)."""
    sig = signature if signature is not None else sign_twilio(auth_token=token, url=signed_url or url, params=form)
    headers = {"X-Twilio-Signature": sig} if sig else {}
    return client.post(url, data=form, headers=headers)


def partner_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"idempotency_key": uuid.uuid4().hex, "text": "Des hommes armés ont attaqué Bozoum"}
    body.update(fields)
    return body


def post_partner(
    client: TestClient,
    api_key: str | None,
    secret: str,
    body: dict[str, Any] | bytes,
    *,
    timestamp: int | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST a partner report signed with its secret (override signature to forge one)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json"}
    if api_key is not None:
        headers["X-Kengele-Key"] = api_key
    sig = partner_signature(secret, ts, raw) if signature is None else signature
    if sig:
        headers["X-Kengele-Signature"] = sig
    return client.post(PARTNER_PATH, content=raw, headers=headers)
