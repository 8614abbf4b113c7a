"""Webhook signatures: Twilio's (via the SDK's RequestValidator) and partners' HMAC-SHA256; fail closed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import urlparse

from twilio.request_validator import RequestValidator, add_port, get_signature_algorithm, remove_port

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


_TWILIO_HASHES = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}


@lru_cache(maxsize=64)
def _twilio_url_variants(url: str) -> tuple[str, str]:
    """The URL without and with its default port: Twilio signs either, as the SDK's validator accepts both."""
    parsed = urlparse(url)
    return remove_port(parsed), add_port(parsed)


def _form_pairs(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    if isinstance(params, Mapping):
        # A multi-dict (Starlette's FormData) signs every value of a repeated field, as the SDK does.
        getlist = getattr(params, "getlist", None) or getattr(params, "getall", None)
        if getlist is not None:
            return [(name, value) for name in params for value in getlist(name)]
        return params.items()
    return params


def twilio_signed_fields(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """The fields as Twilio signs them: names sorted, each with its distinct values sorted, all concatenated."""
    # Sorting the distinct (name, value) pairs gives exactly that order: by name, then by value.
    return "".join(name + value for name, value in sorted(set(_form_pairs(params))))


def verify_twilio(
    *,
    auth_token: str,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    signature: str | None,
    settings_header: str | None = None,
) -> None:
    """Raise SignatureError unless `signature` is Twilio's signature of url + params under auth_token."""
    # Same acceptance as the SDK's RequestValidator.validate (tests/security check it case by case), but the
    # fields are sorted once, not once per URL variant, and both digests are compared in constant time.
    if not signature:
        raise SignatureError("missing X-Twilio-Signature header")
    try:
        hash_name = _TWILIO_HASHES[get_signature_algorithm(settings_header).upper()]
    except (KeyError, ValueError):
        raise SignatureError("unsupported signature settings header") from None
    try:
        without_port, with_port = _twilio_url_variants(url)
    except ValueError:  # a Host header with a port that is not a number
        raise SignatureError("X-Twilio-Signature does not match the request") from None
    try:
        fields = twilio_signed_fields(params).encode()
        signed = [without_port.encode() + fields, with_port.encode() + fields]
    except UnicodeEncodeError:  # lone surrogates: nothing Twilio could have signed
        raise SignatureError("X-Twilio-Signature does not match the request") from None
    given, key = signature.encode(), auth_token.encode()
    matches = False
    for message in signed:  # both, always: the time taken does not say which variant matched
        matches |= hmac.compare_digest(base64.b64encode(hmac.digest(key, message, hash_name)), given)
    if not matches:
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
