"""Signature checks, pure: Twilio's published vector, proxies, and partner HMAC edge cases."""

from __future__ import annotations

import pytest

from app.security import signatures

TWILIO_VECTOR = {
    "token": "12345",
    "url": "https://mycompany.com/myapp.php?foo=1&bar=2",
    "params": {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    },
    "signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
}


def test_twilio_published_vector_is_accepted():
    v = TWILIO_VECTOR
    assert signatures.sign_twilio(auth_token=v["token"], url=v["url"], params=v["params"]) == v["signature"]
    signatures.verify_twilio(auth_token=v["token"], url=v["url"], params=v["params"], signature=v["signature"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"token": "54321"}, "wrong token"),
        ({"url": "https://mycompany.com/myapp.php?foo=1&bar=3"}, "query changed"),
        ({"url": "http://mycompany.com/myapp.php?foo=1&bar=2"}, "scheme changed"),
        ({"params": {**TWILIO_VECTOR["params"], "Digits": "1235"}}, "field changed"),
        ({"params": {**TWILIO_VECTOR["params"], "Extra": "x"}}, "field added"),
    ],
)
def test_twilio_any_change_is_rejected(change, reason):
    v = {**TWILIO_VECTOR, **change}
    with pytest.raises(signatures.SignatureError, match="does not match"):
        signatures.verify_twilio(
            auth_token=v["token"], url=v["url"], params=v["params"], signature=TWILIO_VECTOR["signature"]
        )


def test_twilio_missing_signature_is_rejected():
    with pytest.raises(signatures.SignatureError, match="missing"):
        signatures.verify_twilio(auth_token="t", url="https://x/", params={}, signature=None)


def test_twilio_default_port_is_tolerated():
    v = TWILIO_VECTOR
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    signatures.verify_twilio(auth_token=v["token"], url=with_port, params=v["params"], signature=v["signature"])


def test_twilio_sha256_settings_header_uses_sha256():
    url, params = "https://alerts.example.org/twilio/sms", {"Body": "x"}
    from twilio.request_validator import RequestValidator

    sha256 = RequestValidator("shared-key").compute_signature(url, params, "HMAC_SHA256")
    header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    signatures.verify_twilio(auth_token="shared-key", url=url, params=params, signature=sha256, settings_header=header)
    with pytest.raises(signatures.SignatureError):
        signatures.verify_twilio(auth_token="shared-key", url=url, params=params, signature=sha256)


@pytest.mark.parametrize(
    ("public", "received", "path", "query", "expected"),
    [
        (None, "http://127.0.0.1:8000/twilio/sms?a=1", "/twilio/sms", "a=1", "http://127.0.0.1:8000/twilio/sms?a=1"),
        ("https://alerts.example.org", "http://10.0.0.5/twilio/sms", "/twilio/sms", "", "https://alerts.example.org/twilio/sms"),
        ("https://alerts.example.org/", "http://x/twilio/sms?b=2&a=%20", "/twilio/sms", "b=2&a=%20",
         "https://alerts.example.org/twilio/sms?b=2&a=%20"),
    ],
)  # fmt: skip
def test_twilio_url_uses_public_base_and_raw_query(public, received, path, query, expected):
    assert signatures.twilio_request_url(public, received, path, query) == expected


SECRET = "ks_partner_secret"
BODY = b'{"idempotency_key":"a","text":"x"}'


def test_partner_signature_roundtrip():
    header = signatures.partner_signature(SECRET, 1_700_000_000, BODY)
    signatures.verify_partner(secret=SECRET, header=header, body=BODY, now=1_700_000_010, tolerance_seconds=300)


@pytest.mark.parametrize(
    ("header", "now", "message"),
    [
        (None, 1_700_000_000, "missing"),
        ("", 1_700_000_000, "missing"),
        ("v1=abcd", 1_700_000_000, "t="),
        ("t=notanumber,v1=abcd", 1_700_000_000, "t="),
        ("t=1700000000", 1_700_000_000, "v1="),
        ("t=1700000000,v1=" + "0" * 64, 1_700_000_000, "does not match"),
        (signatures.partner_signature(SECRET, 1_700_000_000, BODY), 1_700_000_301, "window"),
        (signatures.partner_signature(SECRET, 1_700_000_000, BODY), 1_699_999_699, "window"),
        (signatures.partner_signature("other-secret", 1_700_000_000, BODY), 1_700_000_000, "does not match"),
        (signatures.partner_signature(SECRET, 1_700_000_000, BODY + b" "), 1_700_000_000, "does not match"),
    ],
)
def test_partner_bad_signatures_are_rejected(header, now, message):
    with pytest.raises(signatures.SignatureError, match=message):
        signatures.verify_partner(secret=SECRET, header=header, body=BODY, now=now, tolerance_seconds=300)


def test_partner_accepts_any_of_several_v1_values_for_rotation():
    good = signatures.partner_signature(SECRET, 1_700_000_000, BODY).split(",")[1]
    header = f"t=1700000000,v1={'f' * 64},{good}"
    signatures.verify_partner(secret=SECRET, header=header, body=BODY, now=1_700_000_000, tolerance_seconds=300)
