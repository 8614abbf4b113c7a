"""Webhook signatures: Twilio's (via the SDK's RequestValidator) and partners' HMAC-SHA256; fail closed."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator, get_signature_algorithm

PARTNER_SIGNATURE_VERSION = "v1"


class SignatureError(ValueError):
    """A request's signature is missing, malformed, stale or wrong; the message says which."""


def twilio_request_url(public_base_url: str | None, request_url: str, path: str, raw_query: str) -> str:
    """The URL Twilio signed: the configured public base when behind a proxy, else what we received."""
    if not public_base_url:
        return request_url
    url = public_base_url.rstrip("/") + path
    # The raw query, never re-encoded or re-sorted: Twilio signed the bytes it sent.
    return f"{url}?{raw_query}" if raw_query else url


def verify_twilio(
    *, auth_token: str, url: str, params: Any, signature: str | None, settings_header: str | None = None
) -> None:
    """Raise SignatureError unless `signature` is Twilio's signature of url + params under auth_token."""
    if not signature:
        raise SignatureError("missing X-Twilio-Signature header")
    try:
        algorithm = get_signature_algorithm(settings_header)
    except ValueError:
        raise SignatureError("unsupported signature settings header") from None
    if not RequestValidator(auth_token).validate(url, params, signature, algorithm=algorithm):
        raise SignatureError("X-Twilio-Signature does not match the request")


def sign_twilio(*, auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Compute the X-Twilio-Signature Twilio would send (used by `kengele simulate` and tests)."""
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def partner_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Kengele-Signature value for a partner body: t=<unix>,v1=<hex HMAC-SHA256(secret, "t." + body)>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},{PARTNER_SIGNATURE_VERSION}={digest}"


def verify_partner(*, secret: str, header: str | None, body: bytes, now: int, tolerance_seconds: int) -> None:
    """Raise SignatureError unless the header signs this body recently; compares in constant time."""
    if not header:
        raise SignatureError("missing X-Kengele-Signature header")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("X-Kengele-Signature needs t=<unix seconds>") from None
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureError("X-Kengele-Signature timestamp is outside the allowed window")
    candidates = fields.get(PARTNER_SIGNATURE_VERSION, [])
    if not candidates:
        raise SignatureError(f"X-Kengele-Signature needs {PARTNER_SIGNATURE_VERSION}=<hex>")
    expected = partner_signature(secret, timestamp, body).split(f"{PARTNER_SIGNATURE_VERSION}=", 1)[1]
    # Several v1 values let a partner rotate its secret without downtime.
    if not any(hmac.compare_digest(expected, candidate) for candidate in candidates):
        raise SignatureError("X-Kengele-Signature does not match the body")
