"""Signed webhooks to units, against a real local HTTP server, verified with the partner verification code."""

from __future__ import annotations

import json

import pytest

from app.notify.ports import OutboundMessage
from app.notify.webhook_channel import WebhookChannel, encode_body
from app.security.signatures import SignatureError, verify_partner

SECRET = "unit-7-webhook-secret"
NOW = 1_760_000_000
PAYLOAD = {"incident": "K-4821", "category": "armed_presence", "severity": "severe"}


def channel(**kwargs) -> WebhookChannel:
    return WebhookChannel(kwargs.pop("secret", SECRET), clock=lambda: NOW, **kwargs)


def hook(url: str, payload=PAYLOAD, key: str = "esc-9:webhook") -> OutboundMessage:
    return OutboundMessage(idempotency_key=key, kind="webhook", to=url, text="Alerte K-4821", payload=payload)


def test_a_delivered_webhook_is_signed_with_the_partner_scheme(receiver):
    result = channel().send(hook(f"{receiver.base_url}/hooks/unit-7"))

    assert result.accepted and result.status == "delivered"
    [got] = receiver.received
    assert got.path == "/hooks/unit-7"
    assert json.loads(got.body) == PAYLOAD
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-kengele-idempotency-key"] == "esc-9:webhook"
    signature = got.headers["x-kengele-signature"]
    assert signature.startswith(f"t={NOW},v1=")
    verify_partner(secret=SECRET, header=signature, body=got.body, now=NOW, tolerance_seconds=300)
    with pytest.raises(SignatureError):
        verify_partner(secret="other", header=signature, body=got.body, now=NOW, tolerance_seconds=300)
    with pytest.raises(SignatureError):
        verify_partner(secret=SECRET, header=signature, body=got.body + b" ", now=NOW, tolerance_seconds=300)


def test_without_a_payload_the_key_and_text_are_sent(receiver):
    channel().send(hook(f"{receiver.base_url}/h", payload=None))

    assert json.loads(receiver.received[0].body) == {"idempotency_key": "esc-9:webhook", "text": "Alerte K-4821"}


def test_the_sent_bytes_are_the_encoded_body(receiver):
    message = hook(f"{receiver.base_url}/h", payload={"b": "é", "a": 1})
    channel().send(message)

    assert receiver.received[0].body == encode_body(message) == '{"a":1,"b":"é"}'.encode()


@pytest.mark.parametrize(
    ("status", "accepted", "retryable"),
    [
        (200, True, False),
        (202, True, False),
        (204, True, False),
        (408, False, True),
        (429, False, True),
        (500, False, True),
        (503, False, True),
        (400, False, False),
        (401, False, False),
        (404, False, False),
        (410, False, False),
    ],
)
def test_http_statuses_are_classified(receiver, status, accepted, retryable):
    receiver.status_code = status

    result = channel().send(hook(f"{receiver.base_url}/h"))

    assert (result.accepted, result.retryable) == (accepted, retryable)
    assert result.error_code == (None if accepted else str(status))


def test_redirects_are_not_followed(receiver):
    receiver.status_code, receiver.location = 302, f"{receiver.base_url}/elsewhere"

    result = channel().send(hook(f"{receiver.base_url}/h"))

    assert not result.accepted and not result.retryable
    assert [r.path for r in receiver.received] == ["/h"]


def test_a_slow_endpoint_times_out_and_is_retryable(receiver):
    receiver.delay = 1.0

    result = channel(timeout_s=0.2).send(hook(f"{receiver.base_url}/h"))

    assert not result.accepted and result.retryable and result.error_code == "timeout"


def test_connection_refused_is_retryable(dead_url):
    result = channel().send(hook(f"{dead_url}/h"))

    assert not result.accepted and result.retryable and result.error_code == "network"


def test_no_secret_means_nothing_is_sent(receiver):
    result = channel(secret="").send(hook(f"{receiver.base_url}/h"))

    assert not result.accepted and not result.retryable and result.error_code == "no_secret"
    assert receiver.received == []


def test_per_unit_secrets_are_looked_up_by_url(receiver):
    secrets = {f"{receiver.base_url}/unit-1": "s1", f"{receiver.base_url}/unit-2": "s2"}
    webhooks = channel(secret=secrets.get)

    webhooks.send(hook(f"{receiver.base_url}/unit-2"))

    got = receiver.received[0]
    verify_partner(
        secret="s2", header=got.headers["x-kengele-signature"], body=got.body, now=NOW, tolerance_seconds=300
    )


def test_error_details_leave_the_url_out(receiver):
    receiver.status_code = 500

    result = channel().send(hook(f"{receiver.base_url}/h?token=s3cr3t"))

    assert "s3cr3t" not in result.error_detail and "127.0.0.1" not in result.error_detail


@pytest.mark.parametrize("url", ["ftp://unit.example.org/h", "unit.example.org/h", "+23675123456"])
def test_only_http_urls_are_addressable(url):
    result = channel().send(hook(url))

    assert not result.accepted and not result.retryable and result.error_code == "invalid_recipient"


def test_other_kinds_are_refused(receiver):
    message = OutboundMessage("k", "sms", "+23675123456", "x")

    assert channel().send(message).error_code == "wrong_channel"
